package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// FuzzMaskSecretsLeak logs, through zerolog and MaskSecrets, a message
// holding a bearer token between arbitrary texts and an arbitrary value
// under one of the secret fields: the line written is still a JSON
// object, the secret field reads "***", and the token's body appears
// nowhere, as MaskSecrets promises for every token "ist_" that does not
// continue a word (the text before it does not end with a byte of the
// token alphabet).
func FuzzMaskSecretsLeak(f *testing.F) {
	f.Add("request with ", " done", "plain-secret-value", uint8(0))
	f.Add("bad header: Bearer ", "", `a "quoted\" value`, uint8(2))
	f.Add("", "\n", "hunter2", uint8(3))
	f.Add("line one\n", "", "s", uint8(4))
	f.Add("tab\t", "", "", uint8(1))
	f.Fuzz(func(t *testing.T, before, after, value string, key uint8) {
		const body = "SeCrEtToKeNbOdYsEcReTtOkEnBoDySeCrEtToKeN0"
		if strings.Contains(before+after+value, "SeCrEt") || before != "" && isTokenByte(before[len(before)-1]) {
			return
		}
		field := [...]string{"token", "admin_token", "authorization", "password", "secret"}[key%5]
		var out bytes.Buffer
		log := zerolog.New(MaskSecrets(&out))
		log.Info().Str(field, value).Msg(before + "ist_" + body + after)
		line := out.Bytes()
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("masked line is not JSON (%v): %s", err, line)
		}
		if m[field] != "***" {
			t.Fatalf("%s is %q: %s", field, m[field], line)
		}
		if bytes.Contains(line, []byte(body)) {
			t.Fatalf("the token's body is in the line: %s", line)
		}
	})
}

// A token that starts a line of a message, or follows a tab, is masked:
// zerolog writes the newline as `\n`, whose "n" was taken for the end of
// a word that the token continued ("assist_x" is not a token).
func TestMaskSecretsAfterEscape(t *testing.T) {
	tok := newToken()
	var out bytes.Buffer
	log := zerolog.New(MaskSecrets(&out))
	for _, msg := range []string{"line\n" + tok, "a\t" + tok, "cr\r" + tok, "nul\x00" + tok, "bad\xff" + tok, "del\x7f" + tok, "ff\f" + tok} {
		out.Reset()
		log.Info().Msg(msg)
		if strings.Contains(out.String(), tok[4:]) || !strings.Contains(out.String(), "ist_***") {
			t.Errorf("%q logged as %s", msg, out.String())
		}
	}
	// An escaped backslash before "n" is text: "\\nist_x" is a word.
	out.Reset()
	_, _ = MaskSecrets(&out).Write([]byte(`{"message":"a\\nist_x"}`))
	if out.String() != `{"message":"a\\nist_x"}` {
		t.Errorf("escaped backslash: %s", out.String())
	}
}
