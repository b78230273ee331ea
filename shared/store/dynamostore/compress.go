package dynamostore

import (
	"bytes"
	"compress/flate"
	"io"
	"sync"
)

// The merge state is JSON with repetitive keys; deflate shrinks it to about 40 %, so a
// record item stays within one write unit (1 KB).

var writers = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

func compress(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := writers.Get().(*flate.Writer)
	defer writers.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxState bounds decompression (a state is a few KB; this stops a decompression bomb).
const maxState = 4 << 20

func decompress(b []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(b))
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, maxState))
	if err != nil {
		return nil, err
	}
	return out, nil
}
