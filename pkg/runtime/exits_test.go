package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	apievents "github.com/containerd/containerd/api/events"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/podd-dev/podd/pkg/supervisor"
)

func TestInitExit(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   *apievents.TaskExit
		pid  uint32
		want bool
	}{
		{"init process", &apievents.TaskExit{ContainerID: "c", ID: "c", Pid: 10}, 10, true},
		{"pid not known yet (adoption)", &apievents.TaskExit{ContainerID: "c", ID: "c", Pid: 10}, 0, true},
		{"an exec's exit", &apievents.TaskExit{ContainerID: "c", ID: "exec-1", Pid: 11}, 10, false},
		{"an exec's exit, pid not known", &apievents.TaskExit{ContainerID: "c", ID: "exec-1", Pid: 11}, 0, false},
		{"an earlier task of the same ID", &apievents.TaskExit{ContainerID: "c", ID: "c", Pid: 9}, 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := initExit(tc.ev, tc.pid); got != tc.want {
				t.Errorf("initExit = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	proc := func(pid uint32, s tasktypes.Status, code uint32) *tasktypes.Process {
		p := &tasktypes.Process{ID: "c", Pid: pid, Status: s, ExitStatus: code}
		if s == tasktypes.Status_STOPPED {
			p.ExitedAt = timestamppb.New(at)
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		pid     uint32
		p       *tasktypes.Process
		want    verdict
		code    int32
		exactAt bool
	}{
		{"running", 10, proc(10, tasktypes.Status_RUNNING, 0), verdictRunning, 0, false},
		{"created, not started yet", 10, proc(10, tasktypes.Status_CREATED, 0), verdictRunning, 0, false},
		{"paused", 10, proc(10, tasktypes.Status_PAUSED, 0), verdictRunning, 0, false},
		{"pausing", 10, proc(10, tasktypes.Status_PAUSING, 0), verdictRunning, 0, false},
		{"unknown state", 10, proc(10, tasktypes.Status_UNKNOWN, 0), verdictRunning, 0, false},
		{"stopped", 10, proc(10, tasktypes.Status_STOPPED, 3), verdictExited, 3, true},
		{"stopped, pid not known yet", 0, proc(10, tasktypes.Status_STOPPED, 137), verdictExited, 137, true},
		{"running, pid not known yet", 0, proc(10, tasktypes.Status_RUNNING, 0), verdictRunning, 0, false},
		{"another task of the ID runs", 10, proc(12, tasktypes.Status_RUNNING, 0), verdictExited, int32(containerd.UnknownExitStatus), false},
		{"not in the listing", 10, nil, verdictLookUp, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, st := decide(tc.pid, tc.p)
			if v != tc.want {
				t.Fatalf("verdict %d, want %d", v, tc.want)
			}
			if v != verdictExited {
				return
			}
			if st.Code != tc.code {
				t.Errorf("code %d, want %d", st.Code, tc.code)
			}
			if tc.exactAt && !st.ExitedAt.Equal(at) {
				t.Errorf("exited at %v, want %v", st.ExitedAt, at)
			}
			if !tc.exactAt && st.ExitedAt.IsZero() {
				t.Error("no exit time")
			}
		})
	}
}

func TestDecideGone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       *tasktypes.Process
		err     error
		want    verdict
		code    int32
		wantErr bool
	}{
		{"task gone", nil, fmt.Errorf("get: %w", errdefs.ErrNotFound), verdictExited, int32(containerd.UnknownExitStatus), false},
		{"containerd does not answer", nil, fmt.Errorf("get: %w", errdefs.ErrUnavailable), verdictRunning, 0, true},
		{"shim does not answer", nil, errors.New("ttrpc: closed"), verdictRunning, 0, true},
		{"no process in the answer", nil, nil, verdictRunning, 0, true},
		{"running after all", &tasktypes.Process{ID: "c", Pid: 10, Status: tasktypes.Status_RUNNING}, nil, verdictRunning, 0, false},
		{"stopped", &tasktypes.Process{ID: "c", Pid: 10, Status: tasktypes.Status_STOPPED, ExitStatus: 1}, nil, verdictExited, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, st, err := decideGone(10, tc.p, tc.err)
			if v != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("verdict %d, err %v; want %d, error %v", v, err, tc.want, tc.wantErr)
			}
			if v == verdictExited && st.Code != tc.code {
				t.Errorf("code %d, want %d", st.Code, tc.code)
			}
		})
	}
}

// fakeOOM is a container cgroup's OOM kill counter.
type fakeOOM struct{ kills atomic.Uint64 }

func (f *fakeOOM) tracker() *oomTracker {
	t := &oomTracker{count: func() (uint64, error) { return f.kills.Load(), nil }}
	t.reported = f.kills.Load()
	return t
}

// newTestWatch is an exitWatch without a stream: the tests feed it events and resyncs.
func newTestWatch() *exitWatch {
	return &exitWatch{watched: map[string][]*watched{}}
}

// exitOf returns the delivered exit, if any, without waiting.
func exitOf(w *watched) (supervisor.ExitStatus, bool) {
	select {
	case st := <-w.exit:
		return st, true
	default:
		return supervisor.ExitStatus{}, false
	}
}

func TestExitEvents(t *testing.T) {
	ctx := context.Background()
	x := newTestWatch()
	a := x.add(ctx, "a", 10, (&fakeOOM{}).tracker())
	b := x.add(ctx, "b", 20, (&fakeOOM{}).tracker())
	at := time.Now()

	x.exited(&apievents.TaskExit{ContainerID: "a", ID: "exec-1", Pid: 11, ExitStatus: 1, ExitedAt: timestamppb.New(at)})
	x.exited(&apievents.TaskExit{ContainerID: "a", ID: "a", Pid: 9, ExitStatus: 2, ExitedAt: timestamppb.New(at)})
	x.exited(&apievents.TaskExit{ContainerID: "other", ID: "other", Pid: 10, ExitStatus: 3})
	if st, ok := exitOf(a); ok {
		t.Fatalf("an exec's, an earlier task's or another container's exit was delivered: %+v", st)
	}
	x.exited(&apievents.TaskExit{ContainerID: "a", ID: "a", Pid: 10, ExitStatus: 4, ExitedAt: timestamppb.New(at)})
	st, ok := exitOf(a)
	if !ok || st.Code != 4 || !st.ExitedAt.Equal(at) || st.OOMKilled {
		t.Fatalf("exit %+v (delivered %v), want code 4 at %v", st, ok, at)
	}
	// At most one exit per instance: a second event (a resync's, a repeated one) is not delivered.
	x.exited(&apievents.TaskExit{ContainerID: "a", ID: "a", Pid: 10, ExitStatus: 5})
	if st, ok := exitOf(a); ok {
		t.Fatalf("a second exit was delivered: %+v", st)
	}
	if _, ok := exitOf(b); ok {
		t.Fatal("b got an exit")
	}
	x.mu.Lock()
	n := len(x.watched)
	x.mu.Unlock()
	if n != 1 {
		t.Errorf("%d containers watched, want 1 (b): a delivered instance is forgotten", n)
	}
}

func TestExitAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	x := newTestWatch()
	a := x.add(ctx, "a", 10, (&fakeOOM{}).tracker())
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		x.mu.Lock()
		n := len(x.watched)
		x.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a cancelled watcher is still registered")
		}
		time.Sleep(time.Millisecond)
	}
	x.exited(&apievents.TaskExit{ContainerID: "a", ID: "a", Pid: 10})
	if st, ok := exitOf(a); ok {
		t.Fatalf("an exit was delivered after the context ended: %+v", st)
	}
}

func TestTwoInstancesOfOneID(t *testing.T) {
	ctx := context.Background()
	x := newTestWatch()
	old := x.add(ctx, "c", 10, (&fakeOOM{}).tracker())
	cur := x.add(ctx, "c", 20, (&fakeOOM{}).tracker())
	x.exited(&apievents.TaskExit{ContainerID: "c", ID: "c", Pid: 10, ExitStatus: 1})
	if st, ok := exitOf(old); !ok || st.Code != 1 {
		t.Errorf("old instance: %+v, %v; want code 1", st, ok)
	}
	if st, ok := exitOf(cur); ok {
		t.Errorf("the current instance got the old one's exit: %+v", st)
	}
	x.exited(&apievents.TaskExit{ContainerID: "c", ID: "c", Pid: 20, ExitStatus: 2})
	if st, ok := exitOf(cur); !ok || st.Code != 2 {
		t.Errorf("current instance: %+v, %v; want code 2", st, ok)
	}
}

func TestResync(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	running := func(id string, pid uint32) *tasktypes.Process {
		return &tasktypes.Process{ID: id, Pid: pid, Status: tasktypes.Status_RUNNING}
	}
	stopped := func(id string, pid, code uint32) *tasktypes.Process {
		return &tasktypes.Process{ID: id, Pid: pid, Status: tasktypes.Status_STOPPED, ExitStatus: code, ExitedAt: timestamppb.New(at)}
	}
	type inst struct {
		id  string
		pid uint32
	}
	for _, tc := range []struct {
		name    string
		watched []inst
		list    []*tasktypes.Process
		listErr error
		get     map[string]*tasktypes.Process // absent: NotFound
		getErr  map[string]error
		// want: the exit code delivered to each instance, by index; absent: none.
		want    map[int]int32
		wantErr bool
		gets    []string
	}{
		{
			name:    "nothing happened meanwhile",
			watched: []inst{{"a", 10}, {"b", 20}},
			list:    []*tasktypes.Process{running("a", 10), running("b", 20), running("not-podds", 30)},
		},
		{
			name:    "exited while the stream was down",
			watched: []inst{{"a", 10}, {"b", 20}},
			list:    []*tasktypes.Process{stopped("a", 10, 137), running("b", 20)},
			want:    map[int]int32{0: 137},
		},
		{
			name:    "task gone: unknown status",
			watched: []inst{{"a", 10}, {"b", 20}},
			list:    []*tasktypes.Process{running("b", 20)},
			want:    map[int]int32{0: int32(containerd.UnknownExitStatus)},
			gets:    []string{"a"},
		},
		{
			name:    "left out of the listing (its shim did not answer) but running",
			watched: []inst{{"a", 10}},
			list:    nil,
			get:     map[string]*tasktypes.Process{"a": running("a", 10)},
			gets:    []string{"a"},
		},
		{
			name:    "left out of the listing and the look-up fails: kept, tried again",
			watched: []inst{{"a", 10}, {"b", 20}},
			list:    []*tasktypes.Process{stopped("b", 20, 0)},
			getErr:  map[string]error{"a": fmt.Errorf("connection closed: %w", errdefs.ErrUnavailable)},
			want:    map[int]int32{1: 0},
			wantErr: true,
			gets:    []string{"a"},
		},
		{
			name:    "the listing fails: nothing delivered",
			watched: []inst{{"a", 10}},
			listErr: fmt.Errorf("connection refused: %w", errdefs.ErrUnavailable),
			wantErr: true,
		},
		{
			name:    "adoption whose pid is not known yet",
			watched: []inst{{"a", 0}},
			list:    []*tasktypes.Process{stopped("a", 10, 2)},
			want:    map[int]int32{0: 2},
		},
		{
			name:    "created, not started",
			watched: []inst{{"a", 10}},
			list:    []*tasktypes.Process{{ID: "a", Pid: 10, Status: tasktypes.Status_CREATED}},
		},
		{
			name:    "nothing watched: no call",
			watched: nil,
			listErr: errors.New("must not be called"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newTestWatch()
			var ws []*watched
			for _, in := range tc.watched {
				ws = append(ws, x.add(context.Background(), in.id, in.pid, (&fakeOOM{}).tracker()))
			}
			var gets []string
			err := x.resync(func() ([]*tasktypes.Process, error) {
				return tc.list, tc.listErr
			}, func(id string) (*tasktypes.Process, error) {
				gets = append(gets, id)
				if err := tc.getErr[id]; err != nil {
					return nil, err
				}
				if p := tc.get[id]; p != nil {
					return p, nil
				}
				return nil, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
			})
			if (err != nil) != tc.wantErr {
				t.Errorf("resync error %v, want an error: %v", err, tc.wantErr)
			}
			if fmt.Sprint(gets) != fmt.Sprint(tc.gets) {
				t.Errorf("looked up %v, want %v", gets, tc.gets)
			}
			for i, w := range ws {
				st, ok := exitOf(w)
				want, wantOK := tc.want[i]
				if ok != wantOK || st.Code != want {
					t.Errorf("instance %s: exit %+v delivered %v; want code %d delivered %v", w.id, st, ok, want, wantOK)
				}
			}
		})
	}
}

// TestResyncJudgesOnlyEarlierInstances: an instance registered while the listing is read is not
// judged by it (the listing may show an earlier task of its ID); the live stream covers it.
func TestResyncJudgesOnlyEarlierInstances(t *testing.T) {
	x := newTestWatch()
	var late *watched
	err := x.resync(func() ([]*tasktypes.Process, error) {
		t.Fatal("listed with nothing watched")
		return nil, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x.add(context.Background(), "a", 10, (&fakeOOM{}).tracker())
	err = x.resync(func() ([]*tasktypes.Process, error) {
		late = x.add(context.Background(), "b", 21, (&fakeOOM{}).tracker())
		// b's earlier task, stopped, as the listing saw it before b's new task was created.
		return []*tasktypes.Process{
			{ID: "a", Pid: 10, Status: tasktypes.Status_RUNNING},
			{ID: "b", Pid: 20, Status: tasktypes.Status_STOPPED, ExitStatus: 1},
		}, nil
	}, func(id string) (*tasktypes.Process, error) {
		t.Errorf("looked up %s", id)
		return nil, errdefs.ErrNotFound
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := exitOf(late); ok {
		t.Errorf("an instance registered during the listing was judged by it: %+v", st)
	}
}

func TestOOMAttribution(t *testing.T) {
	ctx := context.Background()
	t.Run("main process killed", func(t *testing.T) {
		x := newTestWatch()
		cg := &fakeOOM{}
		w := x.add(ctx, "a", 10, cg.tracker())
		x.oomed("a")
		cg.kills.Add(1)
		x.exited(&apievents.TaskExit{ContainerID: "a", ID: "a", Pid: 10, ExitStatus: 137})
		if st, ok := exitOf(w); !ok || !st.OOMKilled || st.Code != 137 {
			t.Errorf("exit %+v (delivered %v), want OOMKilled 137", st, ok)
		}
	})
	t.Run("SIGKILL without an OOM kill", func(t *testing.T) {
		x := newTestWatch()
		w := x.add(ctx, "a", 10, (&fakeOOM{}).tracker())
		x.exited(&apievents.TaskExit{ContainerID: "a", ID: "a", Pid: 10, ExitStatus: 137})
		if st, ok := exitOf(w); !ok || st.OOMKilled {
			t.Errorf("exit %+v (delivered %v), want not OOMKilled", st, ok)
		}
	})
	t.Run("kills before the instance was watched are not its", func(t *testing.T) {
		x := newTestWatch()
		cg := &fakeOOM{}
		cg.kills.Store(2)
		w := x.add(ctx, "a", 10, cg.tracker())
		x.exited(&apievents.TaskExit{ContainerID: "a", ID: "a", Pid: 10, ExitStatus: 137})
		if st, ok := exitOf(w); !ok || st.OOMKilled {
			t.Errorf("exit %+v (delivered %v), want not OOMKilled", st, ok)
		}
	})
	t.Run("another process killed: reported after the grace", func(t *testing.T) {
		x := newTestWatch()
		cg := &fakeOOM{}
		w := x.add(ctx, "a", 10, cg.tracker())
		cg.kills.Store(2)
		x.oomed("a")
		x.oomed("a") // coalesced
		select {
		case n := <-w.kills:
			if n != 2 {
				t.Errorf("%d kills reported, want 2", n)
			}
		case <-time.After(oomGrace + 30*time.Second):
			t.Fatal("no kill reported")
		}
		// The main process survives; its later SIGKILL is not an OOM kill.
		x.exited(&apievents.TaskExit{ContainerID: "a", ID: "a", Pid: 10, ExitStatus: 137})
		if st, ok := exitOf(w); !ok || st.OOMKilled {
			t.Errorf("exit %+v (delivered %v), want not OOMKilled", st, ok)
		}
	})
}

// TestNotify: with callbacks (supervisor.Process.Notify) the exit and the OOM kill counts come
// through them, in order, and an exit delivered before the callbacks were set is passed on.
func TestNotify(t *testing.T) {
	ctx := context.Background()
	type call struct {
		exit  *supervisor.ExitStatus
		kills int
	}
	collect := func(x *exitWatch, w *watched) <-chan call {
		calls := make(chan call, 10)
		x.process(w, w.pid).Notify(func(st supervisor.ExitStatus) {
			calls <- call{exit: &st}
		}, func(n int) {
			calls <- call{kills: n}
		})
		return calls
	}
	next := func(t *testing.T, calls <-chan call) call {
		t.Helper()
		select {
		case c := <-calls:
			return c
		case <-time.After(oomGrace + 30*time.Second):
			t.Fatal("no call")
			return call{}
		}
	}
	t.Run("kills, then the exit", func(t *testing.T) {
		x := newTestWatch()
		cg := &fakeOOM{}
		w := x.add(ctx, "a", 10, cg.tracker())
		calls := collect(x, w)
		cg.kills.Store(1)
		x.oomed("a")
		if c := next(t, calls); c.kills != 1 || c.exit != nil {
			t.Fatalf("first call %+v, want 1 kill", c)
		}
		x.exited(&apievents.TaskExit{ContainerID: "a", ID: "a", Pid: 10, ExitStatus: 3})
		if c := next(t, calls); c.exit == nil || c.exit.Code != 3 {
			t.Fatalf("second call %+v, want the exit, code 3", c)
		}
		if _, ok := exitOf(w); ok {
			t.Error("the exit went to the channel too")
		}
	})
	t.Run("exit before the callbacks", func(t *testing.T) {
		x := newTestWatch()
		w := x.add(ctx, "a", 10, (&fakeOOM{}).tracker())
		x.exited(&apievents.TaskExit{ContainerID: "a", ID: "a", Pid: 10, ExitStatus: 4})
		calls := collect(x, w)
		if c := next(t, calls); c.exit == nil || c.exit.Code != 4 {
			t.Fatalf("call %+v, want the exit, code 4", c)
		}
		x.exited(&apievents.TaskExit{ContainerID: "a", ID: "a", Pid: 10, ExitStatus: 5})
		select {
		case c := <-calls:
			t.Errorf("a second call: %+v", c)
		case <-time.After(100 * time.Millisecond):
		}
	})
}
