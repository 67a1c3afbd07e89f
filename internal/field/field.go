// Package field words errors about a configuration's fields so that whoever
// shows them names the fields in the user's terms: the lower layers name a
// field once ("microbatches", "split"), and the CLI renders each as its flag
// ("--microbatches"); a library user sees the plain names.
//
// Main types: Error (a bad value of a field, whose message may refer to
// other fields), and Render, which rewrites a whole error chain.
package field

import (
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

// Errorf makes an Error about field name; format is fmt's, with {field}
// references.
func Errorf(name, format string, args ...any) *Error {
	return &Error{Field: name, format: format, args: args}
}

var ref = regexp.MustCompile(`\{([a-z][a-z0-9-]*)\}`)

// Render is the message with every {field} reference replaced by name(field).
func (e *Error) Render(name func(field string) string) string {
	format := ref.ReplaceAllStringFunc(e.format, func(r string) string {
		return strings.ReplaceAll(name(r[1:len(r)-1]), "%", "%%")
	})
	return fmt.Sprintf(format, e.args...)
}

// Error is the message with fields named as they are.
func (e *Error) Error() string { return e.Render(func(f string) string { return f }) }

// Render is err's message with the message of every Error in its chain
// rendered by name: wrapping (fmt.Errorf's %w, errors.Join) keeps an
// error's message verbatim inside the outer one, so each is replaced there.
func Render(err error, name func(field string) string) string {
	msg := err.Error()
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*Error); ok {
			msg = strings.Replace(msg, fe.Error(), fe.Render(name), 1)
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
