package train

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
)

// metricsLog appends one JSON object per line to a file.
type metricsLog struct {
	path string
	f    *os.File
	w    *bufio.Writer
	err  error
}

func openMetrics(path string) (*metricsLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &metricsLog{path: path, f: f, w: bufio.NewWriter(f)}, nil
}

// write appends v as one line. JSON has no NaN or infinity, so a
// non-finite number is written as null (and the line is still written).
func (m *metricsLog) write(v map[string]any) {
	if m.err != nil {
		return
	}
	for k, x := range v {
		if f, ok := x.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			v[k] = nil
		}
	}
	b, err := json.Marshal(v)
	if err == nil {
		_, err = m.w.Write(append(b, '\n'))
	}
	if err == nil {
		err = m.w.Flush()
	}
	m.err = err
}

// Close flushes and closes the file, returning the first write error.
func (m *metricsLog) Close() error {
	if m.f == nil {
		return m.err
	}
	if err := m.w.Flush(); err != nil && m.err == nil {
		m.err = err
	}
	if err := m.f.Close(); err != nil && m.err == nil {
		m.err = err
	}
	m.f = nil
	return m.err
}
