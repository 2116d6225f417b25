package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
)

// Class is an error's class on the wire; each maps to one errdefs error and one HTTP status.
type Class string

const (
	ClassInvalid            Class = "invalid"
	ClassNotFound           Class = "not_found"
	ClassAlreadyExists      Class = "already_exists"
	ClassFailedPrecondition Class = "failed_precondition"
	// ClassForbidden: the request is understood and refused by policy (a Pod Security level, a
	// process that is not the pod's on a pod's socket).
	ClassForbidden   Class = "forbidden"
	ClassUnavailable Class = "unavailable"
	// ClassResourceExhausted: podd's --root (or another resource) is full.
	ClassResourceExhausted Class = "resource_exhausted"
	ClassInternal          Class = "internal"
)

// Error is an error as the API carries it: the server writes it as {"error": {...}} and the client
// returns it. It unwraps to its class's errdefs error, so errdefs.IsNotFound(err) works on either
// side, while Error() is the server's message unchanged.
type Error struct {
	Class   Class  `json:"class"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the errdefs error of e's class.
func (e *Error) Unwrap() error { return e.Class.errdef() }

// ClassOf classifies err by its errdefs class; anything unclassified is internal.
func ClassOf(err error) Class {
	var apiErr *Error
	switch {
	case errors.As(err, &apiErr) && apiErr.Class != "":
		return apiErr.Class
	case errdefs.IsInvalidArgument(err):
		return ClassInvalid
	case errdefs.IsNotFound(err):
		return ClassNotFound
	case errdefs.IsAlreadyExists(err):
		return ClassAlreadyExists
	case errdefs.IsFailedPrecondition(err):
		return ClassFailedPrecondition
	case errdefs.IsPermissionDenied(err):
		return ClassForbidden
	case errdefs.IsResourceExhausted(err):
		return ClassResourceExhausted
	case errdefs.IsUnavailable(err),
		// A request cut short (podd stopping, a deadline) is worth trying again.
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ClassUnavailable
	}
	return ClassInternal
}

// HTTPStatus is the status code the server answers with for an error of class c.
func (c Class) HTTPStatus() int {
	switch c {
	case ClassInvalid:
		return http.StatusBadRequest
	case ClassNotFound:
		return http.StatusNotFound
	case ClassAlreadyExists:
		return http.StatusConflict
	case ClassFailedPrecondition:
		return http.StatusPreconditionFailed
	case ClassForbidden:
		return http.StatusForbidden
	case ClassUnavailable:
		return http.StatusServiceUnavailable
	case ClassResourceExhausted:
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

func (c Class) errdef() error {
	switch c {
	case ClassInvalid:
		return errdefs.ErrInvalidArgument
	case ClassNotFound:
		return errdefs.ErrNotFound
	case ClassAlreadyExists:
		return errdefs.ErrAlreadyExists
	case ClassFailedPrecondition:
		return errdefs.ErrFailedPrecondition
	case ClassForbidden:
		return errdefs.ErrPermissionDenied
	case ClassUnavailable:
		return errdefs.ErrUnavailable
	case ClassResourceExhausted:
		return errdefs.ErrResourceExhausted
	}
	return errdefs.ErrInternal
}

// classOfStatus guesses a class from a status when a response carries no error body (a proxy, a
// panic): the inverse of HTTPStatus.
func classOfStatus(status int) Class {
	switch status {
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge:
		return ClassInvalid
	case http.StatusNotFound:
		return ClassNotFound
	case http.StatusConflict:
		return ClassAlreadyExists
	case http.StatusPreconditionFailed:
		return ClassFailedPrecondition
	case http.StatusForbidden:
		return ClassForbidden
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return ClassUnavailable
	case http.StatusInsufficientStorage:
		return ClassResourceExhausted
	}
	return ClassInternal
}

// toError turns any error into the API's Error: its class, and its message as a sentence, without the
// class's name that wrapping a bare errdefs error appends (see plainMessage).
func toError(err error) *Error {
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.Error() == err.Error() {
		return apiErr
	}
	return &Error{Class: ClassOf(err), Message: plainMessage(err)}
}

// classNames are errdefs' bare class errors, whose Error() is only the class's name.
var classNames = []error{
	errdefs.ErrUnknown, errdefs.ErrInvalidArgument, errdefs.ErrNotFound, errdefs.ErrAlreadyExists,
	errdefs.ErrPermissionDenied, errdefs.ErrResourceExhausted, errdefs.ErrFailedPrecondition,
	errdefs.ErrConflict, errdefs.ErrNotModified, errdefs.ErrAborted, errdefs.ErrOutOfRange,
	errdefs.ErrNotImplemented, errdefs.ErrInternal, errdefs.ErrUnavailable, errdefs.ErrDataLoss,
	errdefs.ErrUnauthenticated,
}

// predicate tells the classes whose names read as the end of a sentence ("image x: not found",
// as kubectl's `pods "x" not found`); the others ("failed precondition", "invalid argument",
// "unavailable") are status words that no sentence needs.
func predicate(class error) bool {
	return class == errdefs.ErrNotFound || class == errdefs.ErrAlreadyExists
}

func isClassName(err error) bool {
	for _, c := range classNames {
		if err == c {
			return true
		}
	}
	return false
}

// plainMessage is err's message without the names of the errdefs classes that classify it:
// fmt.Errorf("container app exited with code 1: %w", errdefs.ErrFailedPrecondition) reads
// "container app exited with code 1", as kubectl's errors read, because the class travels in
// Error.Class (and the HTTP status) already. "not found" and "already exists" go only where the
// sentence says so already (`pod "x" not found in namespace "y": not found`), since they are
// often its only predicate (containerd's "content digest sha256:…: not found"). Only the text a
// wrapper wrote for a bare class error it wraps is removed, found by walking the chain
// (errors.Join's too), so a message that merely contains a class's words keeps them.
func plainMessage(err error) string {
	msg := err.Error()
	var walk func(e error)
	walk = func(e error) {
		var children []error
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if c := u.Unwrap(); c != nil {
				children = []error{c}
			}
		case interface{ Unwrap() []error }:
			children = u.Unwrap()
		}
		for _, c := range children {
			if !isClassName(c) {
				walk(c)
				continue
			}
			own, name := e.Error(), c.Error()
			plain := own
			switch {
			case strings.HasSuffix(own, ": "+name):
				plain = strings.TrimSuffix(own, ": "+name)
			case strings.HasPrefix(own, name+": "):
				plain = strings.TrimPrefix(own, name+": ")
			case strings.Contains(own, ": "+name+": "):
				plain = strings.Replace(own, ": "+name+": ", ": ", 1)
			}
			if predicate(c) && !strings.Contains(plain, name) {
				// "image x: not found" says what happened only with its class's name.
				continue
			}
			if plain != own && plain != "" {
				msg = strings.Replace(msg, own, plain, 1)
			}
		}
	}
	walk(err)
	return msg
}

// invalid is a request error of class invalid.
func invalid(msg string) error { return &Error{Class: ClassInvalid, Message: msg} }
