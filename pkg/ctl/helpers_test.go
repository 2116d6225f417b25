package ctl

import (
	"errors"
	"regexp"
)

func errorsAs[T error](err error, target *T) bool { return errors.As(err, target) }

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
