// Package field words errors about a configuration's fields so that whoever
// shows them names the fields in the user's terms: the lower layers name a
// field once ("microbatches", "split"), and the CLI renders each as its flag
// ("--microbatches"); a library user sees the plain names.
//
// Main types: Error (a bad value of a field, whose message may refer to
// other fields), Renderer (any error that words its message so), and Render,
// which rewrites a whole error chain.
package field

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Error is a bad value of the configuration field Field. Its format may
// refer to any field as {name}, the field at fault included: Error prints
// each reference as the bare name, Render as its caller says.
type Error struct {
	Field  string
	format string
	args   []any
}

// Errorf makes an Error about field name; format is fmt.Errorf's, with
// {field} references, and may wrap one error with %w (Unwrap finds one only).
func Errorf(name, format string, args ...any) *Error {
	return &Error{Field: name, format: format, args: args}
}

// Renderer is an error whose message refers to fields: Render words it with
// each field named by name, Error with the bare names.
type Renderer interface {
	error
	Render(name func(field string) string) string
}

var ref = regexp.MustCompile(`\{([a-z][a-z0-9-]*)\}`)

// Render is the message with every {field} reference replaced by name(field).
func (e *Error) Render(name func(field string) string) string {
	format := ref.ReplaceAllStringFunc(e.format, func(r string) string {
		return strings.ReplaceAll(name(r[1:len(r)-1]), "%", "%%")
	})
	return fmt.Errorf(format, e.args...).Error() // Errorf, not Sprintf: it knows %w
}

// Error is the message with fields named as they are.
func (e *Error) Error() string { return e.Render(func(f string) string { return f }) }

// Unwrap is the error the format wraps with %w, or nil.
func (e *Error) Unwrap() error { return errors.Unwrap(fmt.Errorf(e.format, e.args...)) }

// Render is err's message with the message of every Renderer in its chain
// rendered by name: wrapping (fmt.Errorf's %w, errors.Join, an Error's own
// %w) keeps an error's message verbatim inside the outer one, so each is
// replaced there.
func Render(err error, name func(field string) string) string {
	msg := err.Error()
	var walk func(error)
	walk = func(e error) {
		if r, ok := e.(Renderer); ok {
			msg = strings.Replace(msg, r.Error(), r.Render(name), 1)
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if inner := u.Unwrap(); inner != nil {
				walk(inner)
			}
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				walk(inner)
			}
		}
	}
	walk(err)
	return msg
}
