package signals

import (
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
	}{
		{"SIGTERM", syscall.SIGTERM},
		{"TERM", syscall.SIGTERM},
		{"term", syscall.SIGTERM},
		{"sigterm", syscall.SIGTERM},
		{"SigQuit", syscall.SIGQUIT},
		{"15", syscall.SIGTERM},
		{"9", syscall.SIGKILL},
		{"1", syscall.SIGHUP},
		{"64", 64},
		{"SIGKILL", syscall.SIGKILL},
		{"SIGWINCH", syscall.SIGWINCH},
		{"SIGSTKFLT", 16},
		{"SIGPWR", 30},
		{"SIGSYS", 31},
		{"SIGIOT", syscall.SIGABRT},
		{"POLL", syscall.SIGIO},
		{"CLD", syscall.SIGCHLD},
		{"SIGRTMIN", 34},
		{"RTMIN", 34},
		{"SIGRTMIN+3", 37},
		{"RTMIN+3", 37},
		{"rtmin+3", 37},
		{"SIGRTMIN+0", 34},
		{"SIGRTMIN+30", 64},
		{"SIGRTMAX", 64},
		{"SIGRTMAX-1", 63},
		{"RTMAX-30", 34},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, in := range []string{
		"", "SIG", "0", "65", "-1", "+15", " 15", "15 ", "SIGFOO", "TERM2", "SIG TERM",
		"RTMIN-1", "RTMAX+1", "RTMIN+31", "RTMAX-31", "RTMIN+", "RTMIN+-1", "RTMIN++1", "RTMIN3",
		"RTMINUS", "SIGSIGTERM", "1e1", "0x0f",
	} {
		t.Run(in, func(t *testing.T) {
			got, err := Parse(in)
			if err == nil {
				t.Fatalf("Parse(%q) = %d, want an error", in, got)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("Parse(%q): %v is not an invalid-argument error", in, err)
			}
		})
	}
}

func TestParseErrorNamesValue(t *testing.T) {
	_, err := Parse("SIGBOGUS")
	if err == nil || !strings.Contains(err.Error(), `"SIGBOGUS"`) {
		t.Errorf("error %v does not name the value", err)
	}
}

func TestName(t *testing.T) {
	tests := []struct {
		sig  syscall.Signal
		want string
	}{
		{syscall.SIGTERM, "SIGTERM"},
		{syscall.SIGKILL, "SIGKILL"},
		{syscall.SIGHUP, "SIGHUP"},
		{syscall.SIGABRT, "SIGABRT"},
		{syscall.SIGIO, "SIGIO"},
		{syscall.SIGSYS, "SIGSYS"},
		{34, "SIGRTMIN"},
		{37, "SIGRTMIN+3"},
		{49, "SIGRTMIN+15"},
		{50, "SIGRTMAX-14"},
		{63, "SIGRTMAX-1"},
		{64, "SIGRTMAX"},
		{0, "0"},
		{32, "32"},
		{65, "65"},
	}
	for _, tt := range tests {
		if got := Name(tt.sig); got != tt.want {
			t.Errorf("Name(%d) = %q, want %q", tt.sig, got, tt.want)
		}
	}
}

// Every signal Parse accepts must survive Name and Parse again, or a STOPSIGNAL logged by name
// could not be sent again by name.
func TestNameParseRoundTrip(t *testing.T) {
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		if sig == 32 || sig == 33 {
			continue // glibc's own; there is no name to give them
		}
		got, err := Parse(Name(sig))
		if err != nil || got != sig {
			t.Errorf("Parse(Name(%d)) = %d, %v", sig, got, err)
		}
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		sig  syscall.Signal
		code int32
	}{
		{syscall.SIGKILL, 137},
		{syscall.SIGTERM, 143},
		{syscall.SIGINT, 130},
		{syscall.SIGHUP, 129},
		{64, 192},
	}
	for _, tt := range tests {
		if got := ExitCodeForSignal(tt.sig); got != tt.code {
			t.Errorf("ExitCodeForSignal(%s) = %d, want %d", Name(tt.sig), got, tt.code)
		}
		got, ok := SignalFromExitCode(tt.code)
		if !ok || got != tt.sig {
			t.Errorf("SignalFromExitCode(%d) = %d, %v; want %d", tt.code, got, ok, tt.sig)
		}
	}
	for _, code := range []int32{0, 1, 2, 126, 127, 128, 193, 255, -1} {
		if sig, ok := SignalFromExitCode(code); ok {
			t.Errorf("SignalFromExitCode(%d) = %d, want no signal", code, sig)
		}
	}
}
