package server

import (
	"bytes"
	"io"
	"sync"
)

// MaskSecrets returns a writer that passes each write (zerolog writes one
// log line at a time) to w with its secrets masked, whatever the code that
// logged it: every bearer token (ist_ followed by its base64url body, as
// in a message, an error or an Authorization header) becomes "ist_***",
// and the string value of any JSON field named token, admin_token,
// authorization, password or secret becomes "***". A line without
// secrets is written as is, without a copy. istd wraps its logger with
// it; pass one to Options.Logger to do the same.
//
//	log := zerolog.New(server.MaskSecrets(os.Stderr))
func MaskSecrets(w io.Writer) io.Writer { return &maskWriter{w: w} }

type maskWriter struct{ w io.Writer }

// maskBufs holds scratch buffers for lines that have secrets.
var maskBufs = sync.Pool{New: func() any { return new([]byte) }}

var (
	tokenPrefix = []byte("ist_")
	secretKeys  = [][]byte{[]byte(`"token":"`), []byte(`"admin_token":"`), []byte(`"authorization":"`),
		[]byte(`"password":"`), []byte(`"secret":"`)}
)

// Write masks p and writes it in one call to the underlying writer. It
// reports len(p) on success, as io.Writer requires, whatever the masked
// line's length. It is safe for concurrent use if the underlying writer
// is (an *os.File is, for one line at a time).
func (m *maskWriter) Write(p []byte) (int, error) {
	if !hasSecret(p) {
		return m.w.Write(p)
	}
	bp := maskBufs.Get().(*[]byte)
	defer maskBufs.Put(bp)
	out := (*bp)[:0]
	for i := 0; i < len(p); {
		if bytes.HasPrefix(p[i:], tokenPrefix) && (i == 0 || !isTokenByte(p[i-1]) || afterEscape(p[:i])) {
			j := i + len(tokenPrefix)
			for j < len(p) && isTokenByte(p[j]) {
				j++
			}
			if j > i+len(tokenPrefix) {
				out = append(out, "ist_***"...)
				i = j
				continue
			}
		}
		if p[i] == '"' {
			if k := secretKeyAt(p[i:]); k > 0 {
				out = append(out, p[i:i+k]...)
				j := i + k
				for j < len(p) && p[j] != '"' {
					if p[j] == '\\' {
						j++
					}
					j++
				}
				out = append(out, "***"...)
				i = min(j, len(p))
				continue
			}
		}
		out = append(out, p[i])
		i++
	}
	*bp = out
	if _, err := m.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func hasSecret(p []byte) bool {
	if bytes.Contains(p, tokenPrefix) {
		return true
	}
	for _, k := range secretKeys {
		if bytes.Contains(p, k) {
			return true
		}
	}
	return false
}

// secretKeyAt returns the length of the secret field's `"key":"` at the
// start of p, or 0.
func secretKeyAt(p []byte) int {
	for _, k := range secretKeys {
		if bytes.HasPrefix(p, k) {
			return len(k)
		}
	}
	return 0
}

// afterEscape reports whether p ends with a JSON string escape (\n, \t,
// \r, \b, \f or \uXXXX, as zerolog writes a control character or a
// byte that is not UTF-8): its last byte is in the token alphabet, but
// the text it stands for ends with no word, so a token may follow
// ("line\nist_…" is a token after a newline).
func afterEscape(p []byte) bool {
	n := len(p)
	if c := p[n-1]; n >= 2 && (c == 'n' || c == 't' || c == 'r' || c == 'b' || c == 'f') && oddBackslashes(p[:n-1]) {
		return true
	}
	// Not "else": \u007f ends with "f" too.
	return n >= 6 && p[n-5] == 'u' && isHex(p[n-4:]) && oddBackslashes(p[:n-5])
}

// oddBackslashes reports whether p ends with an odd number of
// backslashes: the last one starts an escape.
func oddBackslashes(p []byte) bool {
	k := 0
	for k < len(p) && p[len(p)-1-k] == '\\' {
		k++
	}
	return k%2 == 1
}

func isHex(p []byte) bool {
	for _, c := range p {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// isTokenByte reports whether c is in the base64url alphabet of tokens.
func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
