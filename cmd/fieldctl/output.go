package main

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// writeJSON writes v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable returns a writer that aligns tab-separated columns. The caller
// must call Flush.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// displayValue returns a field value for a table cell: as is when it is
// printable UTF-8 text without tabs, Go-quoted otherwise, so a value can
// neither break the table nor send control sequences to a terminal.
func displayValue(b []byte) string {
	s := string(b)
	if s == "" {
		return `""`
	}
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// dash returns "-" for an empty cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
