// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package wire // import "github.com/promptetheus/otelcol-promptetheus/internal/wire"

import (
	"encoding/json"
	"strconv"
)

// field binds a payload key to where its value goes: a *string,
// *json.RawMessage, *int64, *float64, **float64, **bool, *[]string,
// *[]json.RawMessage, *map[string]json.RawMessage or *map[string]float64.
type field struct {
	name string
	dst  any
}

// decodeFields fills fields from the fields of a payload of type typ.
func decodeFields(typ string, payload *fieldReader, fields ...field) error {
	var err error
	for key, value, ok := payload.next(); ok; key, value, ok = payload.next() {
		setNamed(typ, fields, key, value, &err)
	}
	return err
}

// setNamed sets the field named key. A value of the wrong JSON type is
// refused by name, the first one only; null leaves a field at its zero
// value and unknown keys are ignored, as encoding/json does.
func setNamed(typ string, fields []field, key, value []byte, err *error) {
	for _, f := range fields {
		if f.name == string(key) && *err == nil && !isNull(value) && !setField(f.dst, value) {
			*err = invalid("%s.payload.%s must be %s", typ, key, kindName(f.dst))
		}
	}
}

func setField(dst any, v []byte) bool {
	var ok = true
	switch d := dst.(type) {
	case *string:
		*d, ok = DecodeString(v)
	case *json.RawMessage:
		*d = v
	case *int64:
		n, err := strconv.ParseInt(string(v), 10, 64)
		*d, ok = n, err == nil
	case *float64:
		*d, ok = parseNumber(v)
	case **float64:
		var f float64
		if f, ok = parseNumber(v); ok {
			*d = &f
		}
	case **bool:
		b := string(v) == "true"
		if ok = b || string(v) == "false"; ok {
			*d = &b
		}
	case *[]string:
		if ok = v[0] == '['; ok {
			for _, e := range elements(v) {
				s, isString := DecodeString(e)
				if !isString && !isNull(e) {
					return false
				}
				*d = append(*d, s)
			}
		}
	case *[]json.RawMessage:
		if ok = v[0] == '['; ok {
			*d = elements(v)
		}
	case *map[string]json.RawMessage:
		if ok = v[0] == '{'; ok {
			*d = map[string]json.RawMessage{}
			f := fieldsOf(v)
			for k, e, more := f.next(); more; k, e, more = f.next() {
				(*d)[string(k)] = e
			}
			f.close()
		}
	case *map[string]float64:
		if ok = v[0] == '{'; ok {
			*d = map[string]float64{}
			f := fieldsOf(v)
			for k, e, more := f.next(); more; k, e, more = f.next() {
				n, isNumber := parseNumber(e)
				ok = ok && (isNumber || isNull(e))
				(*d)[string(k)] = n
			}
			f.close()
		}
	default:
		panic("wire: unsupported field type")
	}
	return ok
}

// parseNumber reads a JSON number that fits a float64.
func parseNumber(v []byte) (float64, bool) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return f, err == nil
}

func kindName(dst any) string {
	switch dst.(type) {
	case *string:
		return "a string"
	case **bool:
		return "a boolean"
	case *int64:
		return "an integer"
	case *float64, **float64:
		return "a number"
	case *[]string:
		return "an array of strings"
	case *[]json.RawMessage:
		return "an array"
	}
	return "an object"
}
