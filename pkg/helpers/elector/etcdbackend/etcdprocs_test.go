package etcdbackend

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/hosttest"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/helpers/elector"
	"github.com/podd-dev/podd/pkg/helpers/fencedstore"
)

// The etcd backend against a real 3-member etcd cluster (Debian's etcd-server) on loopback
// ports, with electors as processes of their own (this test binary, re-executed as
// `elector ...`). Without etcd the test is skipped, except under CI=true, where that fails.

const childEnv = "PODD_ELECTOR_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		app := &cli.App{Name: "podd-patterns", Commands: []*cli.Command{elector.Command()}}
		if err := app.Run(append([]string{"podd-patterns"}, os.Args[1:]...)); err != nil {
			fmt.Fprintln(os.Stderr, "elector:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "out.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); log.Close(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		<-p.exited
	})
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	hosttest.WaitFor(t, what, 90*time.Second, cond)
}

type etcdElector struct {
	name string
	url  string
	p    *proc
	args []string
}

func (e *etcdElector) status() (elector.Status, bool) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(e.url + "/")
	if err != nil {
		return elector.Status{}, false
	}
	defer resp.Body.Close()
	var st elector.Status
	return st, json.NewDecoder(resp.Body).Decode(&st) == nil
}

func startElector(t *testing.T, endpoints []string, name string) *etcdElector {
	port := hosttest.FreePort(t)
	e := &etcdElector{name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port),
		args: []string{"elector", "--backend", "etcd", "--etcd-endpoints", strings.Join(endpoints, ","),
			"--election", "proc", "--ttl", "2s", "--name", name, "--listen", fmt.Sprintf("127.0.0.1:%d", port)}}
	e.start(t)
	return e
}

func (e *etcdElector) start(t *testing.T) {
	e.p = startProc(t, os.Args[0], []string{childEnv + "=1"}, e.args...)
	waitFor(t, e.name+" serving", func() bool { _, ok := e.status(); return ok })
}

// oneLeader waits until exactly one elector says it leads with a token above after, and every
// other one names it; that elector and its token.
func oneLeader(t *testing.T, els []*etcdElector, after uint64) (*etcdElector, uint64) {
	t.Helper()
	var leader *etcdElector
	var token uint64
	waitFor(t, fmt.Sprintf("one leader with a token above %d", after), func() bool {
		leader, token = nil, 0
		var sts []elector.Status
		for _, e := range els {
			st, ok := e.status()
			if !ok {
				return false
			}
			sts = append(sts, st)
			if st.IsLeader {
				if leader != nil {
					t.Fatalf("two leaders: %s and %s (%+v)", leader.name, e.name, st)
				}
				leader, token = e, st.Token
			}
		}
		if leader == nil || token <= after {
			return false
		}
		for _, st := range sts {
			if st.Leader != leader.name || st.Token != token {
				return false
			}
		}
		return true
	})
	return leader, token
}

func without(els []*etcdElector, x *etcdElector) []*etcdElector {
	var out []*etcdElector
	for _, e := range els {
		if e != x {
			out = append(out, e)
		}
	}
	return out
}

// TestEtcdElectionProcesses: three electors in one election on a 3-member etcd: one leader;
// kill -9 of it → another leads with a higher token, and the fenced store refuses the old one;
// SIGSTOP of the leader beyond the ttl → another leads, and after SIGCONT the stopped one says
// at once it does not lead, and its token is refused; resign hands over.
func TestEtcdElectionProcesses(t *testing.T) {
	hosttest.NeedBinaries(t, "etcd-server", "etcd")
	endpoints := hosttest.StartEtcd(t, 3)
	els := []*etcdElector{startElector(t, endpoints, "pod-a"), startElector(t, endpoints, "pod-b"), startElector(t, endpoints, "pod-c")}
	store := fencedstore.New()
	put := func(token uint64) bool {
		_, ok := store.Put("k", []byte(strconv.FormatUint(token, 10)), token)
		return ok
	}

	l1, t1 := oneLeader(t, els, 0)
	if !put(t1) {
		t.Fatalf("the store refused the first leader's token %d", t1)
	}

	// kill -9: the session dies with the process; its lease expires, the next candidate leads.
	l1.p.cmd.Process.Kill()
	<-l1.p.exited
	l2, t2 := oneLeader(t, without(els, l1), t1)
	if l2 == l1 || t2 <= t1 {
		t.Fatalf("after kill -9 of %s (token %d): %s leads with token %d", l1.name, t1, l2.name, t2)
	}
	if !put(t2) || put(t1) {
		t.Fatalf("the store: token %d accepted %v, the old token %d refused %v", t2, true, t1, false)
	}
	l1.start(t) // back, as a candidate behind the others
	oneLeader(t, els, t2-1)

	// SIGSTOP the leader for longer than the ttl: etcd expires its lease and grants another.
	if err := l2.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	l3, t3 := oneLeader(t, without(els, l2), t2)
	if !put(t3) {
		t.Fatalf("the store refused the new leader's token %d", t3)
	}
	if err := l2.p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// Its first answer after SIGCONT: not the leader (its deadline passed while it was stopped).
	var st elector.Status
	waitFor(t, l2.name+" answers after SIGCONT", func() bool { var ok bool; st, ok = l2.status(); return ok })
	if st.IsLeader {
		t.Fatalf("%s after SIGCONT past its deadline: %+v, want not leader", l2.name, st)
	}
	if put(t2) {
		t.Fatalf("the store accepted the paused leader's token %d after token %d", t2, t3)
	}
	l3b, t3b := oneLeader(t, els, t3-1)
	if l3b != l3 || t3b != t3 {
		t.Fatalf("after SIGCONT: %s leads with %d, want %s with %d still", l3b.name, t3b, l3.name, t3)
	}

	// Resign: another candidate leads, with a higher token; the one that resigned does not.
	resp, err := http.Post(l3.url+"/resign", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rs elector.Status
	json.NewDecoder(resp.Body).Decode(&rs)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || rs.IsLeader {
		t.Fatalf("resign: %s %+v", resp.Status, rs)
	}
	l4, t4 := oneLeader(t, els, t3)
	if l4 == l3 || !put(t4) || put(t3) {
		t.Fatalf("after %s resigned (token %d): %s leads with %d", l3.name, t3, l4.name, t4)
	}

	// SIGTERM: the leader resigns on its way out and exits 0.
	l4.p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l4.p.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not exit on SIGTERM", l4.name)
	}
	if code := l4.p.cmd.ProcessState.ExitCode(); code != 0 {
		out, _ := os.ReadFile(l4.p.log)
		t.Fatalf("%s exited %d on SIGTERM: %s", l4.name, code, out)
	}
	oneLeader(t, without(els, l4), t4)
}
