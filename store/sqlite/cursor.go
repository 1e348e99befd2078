package sqlite

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/portico-health/portico/store"
)

// Cursors are opaque to clients: base64url of a one-byte kind and the position after which
// the next page starts. Their layout may change between releases; a cursor outlives neither a
// schema change nor its query.
const (
	searchCursor  = 's'
	historyCursor = 'h'
)

var cursorEncoding = base64.RawURLEncoding

// historyPos is where a history page ended, and the snapshot the paging started in: versions
// committed after the first page (seq > high) are never listed by its cursors, whatever their
// LastUpdated, so later pages neither repeat nor skip anything.
type historyPos struct {
	lastUpdated int64 // of the last record listed
	seq         int64 // of the last record listed
	high        int64 // the largest seq when the first page was read
}

func encodeHistoryCursor(p historyPos) string {
	b := []byte{historyCursor}
	b = binary.AppendVarint(b, p.lastUpdated)
	b = binary.AppendUvarint(b, uint64(p.seq))
	b = binary.AppendUvarint(b, uint64(p.high))
	return cursorEncoding.EncodeToString(b)
}

func decodeHistoryCursor(s string) (historyPos, error) {
	b, err := decodeCursor(s, historyCursor)
	if err != nil {
		return historyPos{}, err
	}
	var p historyPos
	var n int
	if p.lastUpdated, n = binary.Varint(b); n <= 0 {
		return historyPos{}, badCursor()
	}
	b = b[n:]
	for _, dst := range []*int64{&p.seq, &p.high} {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > 1<<63-1 {
			return historyPos{}, badCursor()
		}
		*dst, b = int64(v), b[n:]
	}
	if len(b) != 0 {
		return historyPos{}, badCursor()
	}
	return p, nil
}

func decodeCursor(s string, kind byte) ([]byte, error) {
	b, err := cursorEncoding.DecodeString(s)
	if err != nil || len(b) == 0 || b[0] != kind {
		return nil, badCursor()
	}
	return b[1:], nil
}

// badCursor does not quote the cursor: it is client input, and errors reach the logs.
func badCursor() error {
	return fmt.Errorf("sqlite: malformed cursor: %w", store.ErrInvalidCursor)
}
