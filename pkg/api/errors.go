package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/containerd/errdefs"
)

// Class is an error's class on the wire; each maps to one errdefs error and one HTTP status.
type Class string

const (
	ClassInvalid            Class = "invalid"
	ClassNotFound           Class = "not_found"
	ClassAlreadyExists      Class = "already_exists"
	ClassFailedPrecondition Class = "failed_precondition"
	ClassUnavailable        Class = "unavailable"
	ClassPermissionDenied   Class = "permission_denied"
	ClassInternal           Class = "internal"
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
		return ClassPermissionDenied
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
	case ClassUnavailable:
		return http.StatusServiceUnavailable
	case ClassPermissionDenied:
		return http.StatusForbidden
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
	case ClassUnavailable:
		return errdefs.ErrUnavailable
	case ClassPermissionDenied:
		return errdefs.ErrPermissionDenied
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
		return ClassPermissionDenied
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return ClassUnavailable
	}
	return ClassInternal
}

// toError turns any error into the API's Error, keeping the message intact.
func toError(err error) *Error {
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.Error() == err.Error() {
		return apiErr
	}
	return &Error{Class: ClassOf(err), Message: err.Error()}
}

// invalid is a request error of class invalid.
func invalid(msg string) error { return &Error{Class: ClassInvalid, Message: msg} }
