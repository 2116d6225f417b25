package logsaver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// stateVersion is the layout of state.json; a file of another version is refused.
const stateVersion = 1

// stateFile is the name of the state file in --state-dir.
const stateFile = "state.json"

// State is what survives a restart (and a kill -9): per followed file, its identity and the
// offset up to which the collector acknowledged its lines, the next sequence number, and the
// batch that was (or was about to be) sent when the state was written. A batch is recorded here
// before its first byte is sent, so that after a crash it is sent again with the same sequence
// numbers and a collector that drops sequence numbers it has seen keeps each line once.
type State struct {
	Version int         `json:"version"`
	NextSeq uint64      `json:"nextSeq"`
	Files   []FileState `json:"files"`
	Pending *Pending    `json:"pending,omitempty"`
}

// FileState is one followed file.
type FileState struct {
	Path string `json:"path"` // where it was last seen
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
	// FPLen and FP: the length and the hash of the file's first bytes (at most fingerprintMax),
	// to tell the same file from another one that reuses its inode, or from itself rewritten
	// after a truncation.
	FPLen  int    `json:"fpLen"`
	FP     string `json:"fp"`
	Offset int64  `json:"offset"` // acknowledged up to here
}

// Pending is the batch in flight: its lines are the segments' lines in order, numbered from
// FirstSeq.
type Pending struct {
	FirstSeq     uint64    `json:"firstSeq"`
	MaxLineBytes int       `json:"maxLineBytes"` // how lines were cut, to cut them again the same way
	Segments     []Segment `json:"segments"`
}

// Segment is a run of whole lines of one file: bytes [From, To), Lines messages.
type Segment struct {
	File  int   `json:"file"` // index in State.Files
	From  int64 `json:"from"`
	To    int64 `json:"to"`
	Lines int   `json:"lines"`
}

// Validate checks what a decoded state promises: a state that fails here was not written by
// this program (or was damaged) and is refused rather than guessed at.
func (s *State) Validate() error {
	if s.Version != stateVersion {
		return fmt.Errorf("version %d: this log saver reads version %d", s.Version, stateVersion)
	}
	for i, f := range s.Files {
		if f.Offset < 0 {
			return fmt.Errorf("files[%d].offset: %d is negative", i, f.Offset)
		}
		if f.FPLen < 0 || f.FPLen > fingerprintMax {
			return fmt.Errorf("files[%d].fpLen: %d is not within 0..%d", i, f.FPLen, fingerprintMax)
		}
	}
	if p := s.Pending; p != nil {
		if p.MaxLineBytes <= 0 {
			return fmt.Errorf("pending.maxLineBytes: %d must be positive", p.MaxLineBytes)
		}
		var lines uint64
		for i, seg := range p.Segments {
			if seg.File < 0 || seg.File >= len(s.Files) {
				return fmt.Errorf("pending.segments[%d].file: %d names no file", i, seg.File)
			}
			if seg.From < 0 || seg.To < seg.From || seg.Lines < 0 {
				return fmt.Errorf("pending.segments[%d]: bytes [%d,%d) lines %d do not make sense", i, seg.From, seg.To, seg.Lines)
			}
			lines += uint64(seg.Lines)
		}
		if p.FirstSeq+lines > s.NextSeq {
			return fmt.Errorf("pending: sequence numbers up to %d reach beyond nextSeq %d", p.FirstSeq+lines, s.NextSeq)
		}
	}
	return nil
}

// EncodeState is the state file's content.
func EncodeState(s *State) ([]byte, error) {
	s.Version = stateVersion
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeState parses and validates a state file's content.
func DecodeState(b []byte) (*State, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// LoadState reads dir's state file; no file is no state (nil, nil).
func LoadState(dir string) (*State, error) {
	path := filepath.Join(dir, stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s, err := DecodeState(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// SaveState replaces dir's state file atomically: a temporary file in dir, written and
// fsynced, renamed over the old one, and dir fsynced, so that a crash at any moment leaves
// either the old state or the new one, whole.
func SaveState(dir string, s *State) error {
	b, err := EncodeState(s)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".state-*.tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, filepath.Join(dir, stateFile))
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("write state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
