package workqueue

// The helper and the runner talk over a unix socket in the folder they share (--work-dir), one
// JSON object a line, the runner asking and the helper answering, one request at a time:
//
//	runner → {"op":"next"}                     helper → {"item": {...}} or {"stop": "why"}
//	runner → {"op":"result","token":T,...}     helper → {"state": "done"|"retry"|"dead"} or {"error": "..."}
//
// The connection is the attempt's liveness: when the runner's container dies, the kernel closes
// it, and the helper ends the lease at once (a failed attempt, retried) instead of waiting for
// a timeout.

// Environment of the user's program.
const (
	EnvItem    = "WORK_ITEM"    // the input file
	EnvInput   = "WORK_INPUT"   // the folder that holds it (for tools that take a folder)
	EnvOutput  = "WORK_OUTPUT"  // an empty folder for the result, committed when the program exits 0
	EnvItemID  = "WORK_ITEM_ID" // the item's id
	EnvAttempt = "WORK_ATTEMPT" // 1 for the first attempt
)

// socketName is the helper's socket in the work folder; binaryName the copy of podd-patterns
// that the user's container runs the runner from.
const (
	socketName = "helper.sock"
	binaryName = "podd-patterns"
	itemDir    = "item"
	// stagedDir holds an output between the runner's result and its commit (see Helper.finish).
	stagedDir = "staged"
)

type request struct {
	Op       string `json:"op"`
	Token    string `json:"token,omitempty"`
	ExitCode *int   `json:"exitCode,omitempty"`
	Error    string `json:"error,omitempty"`
	LogTail  string `json:"logTail,omitempty"`
	// Next, with a result: answer it together with the next item (one round trip per item).
	Next bool `json:"next,omitempty"`
}

type itemInfo struct {
	ID      string `json:"id"`
	Token   string `json:"token"`
	Attempt int    `json:"attempt"`
	Item    string `json:"item"`
	Input   string `json:"input"`
	Output  string `json:"output"`
	// Fresh: run the item in a fresh copy of the worker container (podd's POST /run), not as a
	// process of the runner's.
	Fresh bool `json:"fresh,omitempty"`
}

type response struct {
	Item  *itemInfo `json:"item,omitempty"`
	Stop  string    `json:"stop,omitempty"`
	State string    `json:"state,omitempty"`
	Error string    `json:"error,omitempty"`
	// ResultError: why a result asked with next was refused (Error is then the next item's).
	ResultError string `json:"resultError,omitempty"`
}
