package ociimage

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// BusyboxPath is where Debian's busybox-static installs a statically linked busybox.
const BusyboxPath = "/bin/busybox"

// BusyboxPATH is the PATH of the busybox image (Docker's default PATH).
const BusyboxPATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// The users and groups of the busybox image: root, a `podd` user for tests of runAsUser and USER,
// and nobody.
const (
	busyboxPasswd = "root:x:0:0:root:/root:/bin/sh\n" +
		"podd:x:1000:1000:podd:/home/podd:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	busyboxGroup = "root:x:0:\n" +
		"podd:x:1000:\n" +
		"nobody:x:65534:\n"
)

// Busybox returns the Spec of a small busybox image named name: /bin/busybox copied from the host's
// BusyboxPath, a symlink in /bin for every applet, /etc/passwd and /etc/group with root (0), podd
// (1000) and nobody (65534), /etc/nsswitch.conf (hosts: files dns), the directories /tmp (1777), /var/www, /root, /etc and /home/podd,
// PATH set, and CMD ["sh"]. opts are applied last, so they can replace any of it.
//
// It reads the applet list by running busybox --list, and fails unless the host's busybox is
// statically linked: the image has no libc for a dynamic one.
func Busybox(name string, opts ...Option) (Spec, error) {
	static, err := IsStaticELF(BusyboxPath)
	if err != nil {
		return Spec{}, fmt.Errorf("busybox image: %w", err)
	}
	if !static {
		return Spec{}, fmt.Errorf("busybox image: %s is dynamically linked; install busybox-static", BusyboxPath)
	}
	applets, err := BusyboxApplets(BusyboxPath)
	if err != nil {
		return Spec{}, fmt.Errorf("busybox image: %w", err)
	}
	s := Spec{
		Name: name,
		Files: []File{
			{Path: "/bin/busybox", Source: BusyboxPath, Mode: 0o755},
			{Path: "/etc/passwd", Content: []byte(busyboxPasswd), Mode: 0o644},
			{Path: "/etc/group", Content: []byte(busyboxGroup), Mode: 0o644},
			// Without it, the static glibc of Debian's busybox asks DNS before /etc/hosts, where
			// podd puts the names of the pod and of the other pods.
			{Path: "/etc/nsswitch.conf", Content: []byte("hosts: files dns\n"), Mode: 0o644},
		},
		Dirs: []Dir{
			{Path: "/bin"}, {Path: "/dev"}, {Path: "/etc"}, {Path: "/proc"}, {Path: "/sys"},
			{Path: "/var/www"},
			{Path: "/root", Mode: 0o700},
			{Path: "/tmp", Mode: 0o1777},
			{Path: "/home/podd", Mode: 0o755, UID: 1000, GID: 1000},
		},
		Env: []string{BusyboxPATH},
		Cmd: []string{"sh"},
	}
	for _, a := range applets {
		s.Symlinks = append(s.Symlinks, Symlink{Path: "/bin/" + a, Target: "busybox"})
	}
	s.Apply(opts...)
	return s, nil
}

// BusyboxApplets lists the applets of the busybox binary at path, without busybox itself.
func BusyboxApplets(path string) ([]string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command(path, "--list")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		applets = append(applets, a)
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("%s --list: no applets", path)
	}
	return applets, nil
}

// IsStaticELF reports whether the ELF executable at path needs no dynamic loader, that is, whether
// it runs in an image that holds nothing else.
func IsStaticELF(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, fmt.Errorf("read ELF %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return false, errors.New(path + " is not an executable")
	}
	return true, nil
}

// Scratch returns the Spec of an image with no shell and no libc, for a static program: /etc/passwd
// and /etc/group with root and nobody, /etc/nsswitch.conf, the mount points /dev, /proc and /sys,
// and /tmp (1777). Add the program with WithFile and name it with WithEntrypoint.
func Scratch(name string, opts ...Option) Spec {
	s := Spec{
		Name: name,
		Files: []File{
			{Path: "/etc/passwd", Content: []byte("root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n"), Mode: 0o644},
			{Path: "/etc/group", Content: []byte("root:x:0:\nnobody:x:65534:\n"), Mode: 0o644},
			{Path: "/etc/nsswitch.conf", Content: []byte("hosts: files dns\n"), Mode: 0o644},
		},
		Dirs: []Dir{
			{Path: "/dev"}, {Path: "/etc"}, {Path: "/proc"}, {Path: "/sys"},
			{Path: "/tmp", Mode: 0o1777},
		},
	}
	s.Apply(opts...)
	return s
}
