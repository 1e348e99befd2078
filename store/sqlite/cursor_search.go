package sqlite

import (
	"bytes"
	"encoding/json"
)

// A search cursor is the order keys of the last resource listed (see orderItems), as JSON:
// strings, integers, reals and nulls.
func encodeSearchCursor(keys []any) string {
	b, _ := json.Marshal(keys) // strings, int64, float64 and nil always marshal
	return cursorEncoding.EncodeToString(append([]byte{searchCursor}, b...))
}

func decodeSearchCursor(s string, n int) ([]any, error) {
	b, err := decodeCursor(s, searchCursor)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var keys []any
	if err := d.Decode(&keys); err != nil || len(keys) != n || d.More() {
		return nil, badCursor()
	}
	for i, k := range keys {
		switch k := k.(type) {
		case nil, string:
		case json.Number:
			if v, err := k.Int64(); err == nil {
				keys[i] = v
			} else if f, err := k.Float64(); err == nil {
				keys[i] = f
			} else {
				return nil, badCursor()
			}
		default:
			return nil, badCursor()
		}
	}
	return keys, nil
}
