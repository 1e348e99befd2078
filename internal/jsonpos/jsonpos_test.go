package jsonpos

import (
	"errors"
	"testing"
)

type route struct {
	ID    string `json:"id"`
	Hours []int  `json:"hours"`
}

type file struct {
	Version int     `json:"version"`
	Routes  []route `json:"routes"`
}

func TestDecodeStrictSaysWhere(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       Error
	}{
		{"truncated", "{\n  \"version\": 1,\n  \"routes\": [", Error{Line: 3, Column: 14, Msg: "the file ends inside a value (a closing } or ] or \" missing?)"}},
		{"empty", "\n", Error{Line: 2, Column: 1, Msg: "the file is empty"}},
		{"syntax", "{\n  \"version\": 1,\n  \"routes\": [x]\n}", Error{Line: 3, Column: 14, Msg: "invalid character 'x' looking for beginning of value"}},
		{"trailing comma", "{\n  \"version\": 1,\n}", Error{Line: 3, Column: 1, Msg: "invalid character '}' looking for beginning of object key string"}},
		{"string for a number", "{\n  \"version\": \"one\"\n}", Error{Line: 2, Column: 14, Field: "version", Msg: "a string where a whole number is expected"}},
		{"number for a string", "{\"routes\": [\n  {\"id\": 7}\n]}", Error{Line: 2, Column: 10, Field: "routes.id", Msg: "a number where a string is expected"}},
		{"object for an array", "{\"routes\": [{\"id\": \"a\", \"hours\": {\"mon\": 9}}]}", Error{Line: 1, Column: 34, Field: "routes.hours", Msg: "an object where an array is expected"}},
		{"unknown field", "{\n  \"version\": 1,\n  \"colour\": 2\n}", Error{Line: 3, Column: 3, Msg: `unknown field "colour"`}},
		{"data after the value", "{\"version\": 1}\n{}", Error{Line: 2, Column: 1, Msg: "more after the end of the JSON value"}},
		{"non-ASCII before the error", "{\"routes\": [{\"id\": \"Zürich\", \"hours\": [true]}]}", Error{Line: 1, Column: 40, Field: "routes.hours", Msg: "true or false where a whole number is expected"}},
	} {
		var f file
		err := DecodeStrict([]byte(tc.data), &f)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: %v, want an *Error", tc.name, err)
			continue
		}
		if *e != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, *e, tc.want)
		}
	}
	var f file
	if err := DecodeStrict([]byte(`{"version": 1, "routes": [{"id": "a", "hours": [9, 17]}]}`), &f); err != nil || f.Routes[0].Hours[1] != 17 {
		t.Errorf("a good file: %v %+v", err, f)
	}
}

func TestPosition(t *testing.T) {
	data := []byte("ab\ncdé\nf")
	for off, want := range map[int][2]int{0: {1, 1}, 2: {1, 3}, 3: {2, 1}, 7: {2, 4}, 8: {3, 1}, 100: {3, 2}} {
		if l, c := Position(data, off); l != want[0] || c != want[1] {
			t.Errorf("Position(%d) = %d:%d, want %d:%d", off, l, c, want[0], want[1])
		}
	}
}
