// Package wire holds what podd's API reads from the bytes a client sends, before any of it reaches
// the daemon: the exec protocol's frames, the JSON bodies of exec requests and metadata patches,
// and the query parameters of logs and deletes. Everything here is a pure function of its input,
// answers bad input with an errdefs invalid-argument error naming the field, and imports no more
// than the standard library, errdefs and podd's model, so that its fuzz targets run in a small
// binary (make fuzz).
package wire
