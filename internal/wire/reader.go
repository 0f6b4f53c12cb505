// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire // import "github.com/promptetheus/otelcol-promptetheus/internal/wire"

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// JSON is read by jsontext, the tokenizer of encoding/json/v2 (in the
// standard library from Go 1.27; this module is its mirror). It validates as
// it reads; the values it returns are found in the input by their offsets
// and handed on as sub-slices, never copied.

// decodeOptions accept what json.Valid and the reference's Python parser
// accept: duplicate names (the last one wins) and strings holding invalid
// UTF-8 (U+FFFD once decoded; envelope fields refuse it).
var decodeOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// reader is a jsontext.Decoder over an input held in memory; decoders are
// large, so they are pooled.
type reader struct {
	in  []byte
	buf bytes.Buffer
	dec jsontext.Decoder
}

var readers = sync.Pool{New: func() any { return new(reader) }}

func newReader(in []byte) *reader {
	r := readers.Get().(*reader)
	r.in = in
	// A bytes.Buffer is parsed in place, without a copy.
	r.buf = *bytes.NewBuffer(in)
	r.dec.Reset(&r.buf, decodeOptions...)
	return r
}

// release returns r to the pool, keeping no reference to the input.
func (r *reader) release() {
	r.in, r.buf = nil, bytes.Buffer{}
	r.dec.Reset(&r.buf)
	readers.Put(r)
}

// value reads the next value as the sub-slice of the input it occupies.
func (r *reader) value() ([]byte, bool) {
	v, err := r.dec.ReadValue()
	end := int(r.dec.InputOffset())
	if err != nil || end > len(r.in) || end < len(v) {
		return nil, false
	}
	return r.in[end-len(v) : end], true
}

// name reads the next name of an object, unquoted: a sub-slice of the input
// unless it holds escapes or invalid UTF-8, which are decoded as
// encoding/json does (U+FFFD for bad bytes), so that no name reaches an
// attribute unchecked.
func (r *reader) name() ([]byte, bool) {
	q, ok := r.value()
	if !ok || len(q) < 2 {
		return nil, false
	}
	if inner := q[1 : len(q)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner, true
	}
	name, _ := jsontext.AppendUnquote(nil, q)
	return name, true
}

// open reads the delimiter that begins an object or array of kind.
func (r *reader) open(kind jsontext.Kind) bool {
	if r.dec.PeekKind() != kind {
		return false
	}
	_, err := r.dec.ReadToken()
	return err == nil
}

// close reads the delimiter that ends the current object or array.
func (r *reader) close() bool {
	_, err := r.dec.ReadToken()
	return err == nil
}

// atEOF reports whether nothing but whitespace follows the value read.
func (r *reader) atEOF() bool {
	_, err := r.dec.ReadToken()
	return err == io.EOF
}

// validJSON reports whether b is exactly one JSON value with optional
// surrounding whitespace, as json.Valid does.
func validJSON(b []byte) bool {
	return jsontext.Value(b).IsValid(decodeOptions...)
}

// fieldReader reads the fields of a JSON object, in order, from a reader of
// its own (fieldsOf) or of the value that holds the object. On input that
// is not valid JSON it stops at the first field it cannot read.
type fieldReader struct {
	r    *reader
	own  bool
	done bool
}

// fieldsOf reads the fields of the object b.
func fieldsOf(b []byte) fieldReader {
	r := newReader(b)
	if !r.open('{') {
		r.release()
		return fieldReader{done: true}
	}
	return fieldReader{r: r, own: true}
}

// next returns the next field; ok is false past the last one.
func (f *fieldReader) next() (key, value []byte, ok bool) {
	if f.done || f.r.dec.PeekKind() != '"' {
		f.done = true
		return nil, nil, false
	}
	if key, ok = f.r.name(); ok {
		value, ok = f.r.value()
	}
	f.done = !ok
	return key, value, ok
}

// close releases the reader fieldsOf took.
func (f *fieldReader) close() {
	if f.own {
		f.r.release()
		f.own, f.done = false, true
	}
}

// elements returns the elements of the JSON array b. On input that is not
// valid JSON it stops at the first element it cannot read.
func elements(b []byte) []json.RawMessage {
	r := newReader(b)
	defer r.release()
	if !r.open('[') {
		return nil
	}
	var out []json.RawMessage
	for r.dec.PeekKind() != ']' {
		e, ok := r.value()
		if !ok {
			break
		}
		out = append(out, e)
	}
	return out
}
