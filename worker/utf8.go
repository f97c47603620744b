package worker

import (
	"bytes"
	"unicode/utf8"
)

// toValidUTF8 replaces invalid byte sequences with U+FFFD, because a text
// frame must carry valid UTF-8 (RFC 6455 section 5.6) and browsers fail the
// connection otherwise. The follower already sanitises lines; this guards
// entries written to Redis by anything else.
func toValidUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return bytes.ToValidUTF8(b, []byte("\uFFFD"))
}
