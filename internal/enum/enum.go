// Package enum names the values of kioku's small enumerations: one table
// of names per type serves its String method, its parser and its text
// encoding, so that the names are written once.
package enum

import (
	"fmt"
	"strings"
)

// Names is the table of names of an enumeration E whose values are 0, 1,
// …, n−1. Its zero value names nothing; make one with New. A Names is
// never modified after New and is safe for concurrent use.
type Names[E ~uint8] struct {
	typ   string
	what  string
	names []string
}

// New returns the table that names value i of E names[i]. typ is E's Go
// name, for values outside the table ("Cell(7)"); what says, with the
// package, what a parse error calls a value ("seq2seq: cell" gives
// `seq2seq: unknown cell "x" (want lstm or gru)`).
func New[E ~uint8](typ, what string, names ...string) Names[E] {
	return Names[E]{typ: typ, what: what, names: names}
}

// String returns the name of e, or typ(e) for a value outside the table.
func (n Names[E]) String(e E) string {
	if int(e) < len(n.names) {
		return n.names[e]
	}
	return fmt.Sprintf("%s(%d)", n.typ, uint8(e))
}

// Valid reports whether e is in the table.
func (n Names[E]) Valid(e E) bool { return int(e) < len(n.names) }

// Parse returns the value named name, or an error listing the names.
func (n Names[E]) Parse(name string) (E, error) {
	for i, s := range n.names {
		if s == name {
			return E(i), nil
		}
	}
	pkg, what, _ := strings.Cut(n.what, ": ")
	return 0, fmt.Errorf("%s: unknown %s %q (want %s)", pkg, what, name, n.list())
}

// list returns the names as "a, b or c".
func (n Names[E]) list() string {
	k := len(n.names)
	if k < 2 {
		return strings.Join(n.names, "")
	}
	return strings.Join(n.names[:k-1], ", ") + " or " + n.names[k-1]
}

// Unmarshal sets *e to the value named text, for an UnmarshalText method.
func (n Names[E]) Unmarshal(e *E, text []byte) error {
	v, err := n.Parse(string(text))
	if err != nil {
		return err
	}
	*e = v
	return nil
}
