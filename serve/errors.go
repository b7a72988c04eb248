package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// apiError is an error with the HTTP status and the machine-readable
// code it is reported with.
type apiError struct {
	status  int
	code    string
	message string
	// retryAfter, when positive, is sent as Retry-After (seconds).
	retryAfter int
}

func (e *apiError) Error() string { return e.message }

// errorf returns an apiError of status and code with a formatted message.
func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// badRequest is a 400 with code "invalid_request".
func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "invalid_request", format, args...)
}

// statusClientClosed is the status logged (never sent: the client is
// gone) for a request whose client disconnected, as nginx logs it.
const statusClientClosed = 499

// errorBody is the JSON of every error response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError writes err as a JSON error response and returns its status.
func writeError(w http.ResponseWriter, err error) int {
	var e *apiError
	if !errors.As(err, &e) {
		e = errorf(http.StatusInternalServerError, "internal", "%v", err)
	}
	var body errorBody
	body.Error.Code, body.Error.Message = e.code, e.message
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(e.retryAfter))
	}
	writeJSON(w, e.status, body)
	return e.status
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a write error means the client is gone
}

// decodeJSON reads the request body into dst strictly: a JSON media type
// (or none), at most limit bytes, valid UTF-8, exactly one object, no
// unknown fields.
func decodeJSON(r *http.Request, limit int64, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q: send application/json", ct)
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return badRequest("reading the body: %v", err)
	}
	if int64(len(body)) > limit {
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "the body is larger than %d bytes", limit)
	}
	if len(body) == 0 {
		return badRequest("empty body: send a JSON object")
	}
	if !utf8.Valid(body) {
		return badRequest("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return badRequest("invalid JSON: %v", jsonError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("invalid JSON: data after the object")
	}
	return nil
}

// jsonError makes encoding/json's errors read well in a response.
func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %q: want %s, got %s", te.Field, te.Type, te.Value)
		}
		return fmt.Sprintf("want %s, got %s", te.Type, te.Value)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of the body"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
