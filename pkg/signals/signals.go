// Package signals names and parses Linux signals the way images and users write them (STOPSIGNAL,
// `podctl kill -s`), maps signals to and from shell-style exit codes, and implements podd's stop
// contract: the stop signal, a grace period, then SIGKILL. It imports nothing of podd, so the
// supervisor, the runtime and the command line can all share one spelling of every signal.
package signals

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// The real-time signal range as glibc presents it to programs and to kill(1). The kernel's range
// starts at 32, but glibc keeps 32 and 33 for its threading, so "SIGRTMIN" means 34 to every
// program an image would run; numbering from 32 would send the wrong signal.
const (
	sigRTMin syscall.Signal = 34
	sigRTMax syscall.Signal = 64
)

// aliases are the second names some signals have; Name never returns them, Parse accepts them
// because Dockerfiles in the wild use them.
var aliases = map[string]syscall.Signal{
	"SIGIOT":  unix.SIGABRT,
	"SIGPOLL": unix.SIGIO,
	"SIGCLD":  unix.SIGCHLD,
}

// Parse reads a signal as a Dockerfile's STOPSIGNAL or kill(1) accepts it: with or without the SIG
// prefix, in any case ("SIGTERM", "TERM", "term"), as a number ("15"), or as a real-time signal
// relative to either end of the range ("SIGRTMIN+3", "RTMAX-1").
func Parse(s string) (syscall.Signal, error) {
	sig, ok := parse(s)
	if !ok {
		return 0, fmt.Errorf("invalid signal %q: %w", s, errdefs.ErrInvalidArgument)
	}
	return sig, nil
}

func parse(s string) (syscall.Signal, bool) {
	if isDigits(s) {
		n, err := strconv.Atoi(s)
		// Signal 0 only probes for a process and would make a stop wait out its whole grace.
		if err != nil || n < 1 || n > int(sigRTMax) {
			return 0, false
		}
		return syscall.Signal(n), true
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, true
	}
	if sig, ok := aliases[name]; ok {
		return sig, true
	}
	return parseRealtime(strings.TrimPrefix(name, "SIG"))
}

func parseRealtime(name string) (syscall.Signal, bool) {
	var base syscall.Signal
	var sign int
	switch {
	case strings.HasPrefix(name, "RTMIN"):
		base, sign = sigRTMin, 1
	case strings.HasPrefix(name, "RTMAX"):
		base, sign = sigRTMax, -1
	default:
		return 0, false
	}
	rest := name[len("RTMIN"):]
	if rest == "" {
		return base, true
	}
	if (sign > 0 && rest[0] != '+') || (sign < 0 && rest[0] != '-') {
		return 0, false
	}
	// Atoi would take a second sign ("RTMIN+-1"), so only digits may follow.
	digits := rest[1:]
	if !isDigits(digits) {
		return 0, false
	}
	off, err := strconv.Atoi(digits)
	if err != nil || off > int(sigRTMax-sigRTMin) {
		return 0, false
	}
	return base + syscall.Signal(sign*off), true
}

// isDigits keeps strconv's signs and the empty string out of signal numbers.
func isDigits(s string) bool {
	return s != "" && strings.TrimLeft(s, "0123456789") == ""
}

// Name is the signal's canonical name ("SIGTERM", "SIGRTMIN+3"), which Parse reads back. Real-time
// signals are named from the nearer end of the range, as kill -l does. A number outside every
// range is returned as its decimal digits, so that a log line still shows what was sent.
func Name(sig syscall.Signal) string {
	if sig >= sigRTMin && sig <= sigRTMax {
		switch mid := (sigRTMax - sigRTMin) / 2; {
		case sig == sigRTMin:
			return "SIGRTMIN"
		case sig == sigRTMax:
			return "SIGRTMAX"
		case sig-sigRTMin <= mid:
			return "SIGRTMIN+" + strconv.Itoa(int(sig-sigRTMin))
		default:
			return "SIGRTMAX-" + strconv.Itoa(int(sigRTMax-sig))
		}
	}
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return strconv.Itoa(int(sig))
}

// ExitCodeForSignal is the exit code a shell, the kubelet and `docker wait` report for a process
// killed by sig: 128 plus its number, so 137 for SIGKILL and 143 for SIGTERM.
func ExitCodeForSignal(sig syscall.Signal) int32 {
	return 128 + int32(sig)
}

// SignalFromExitCode reverses ExitCodeForSignal. The answer is a guess: a program may exit 137 of
// its own accord, and containerd reports only the code, not how the process ended.
func SignalFromExitCode(code int32) (syscall.Signal, bool) {
	if code <= 128 || code > 128+int32(sigRTMax) {
		return 0, false
	}
	return syscall.Signal(code - 128), true
}
