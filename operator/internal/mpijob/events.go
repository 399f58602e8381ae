package mpijob

import (
	"strings"
	"unicode/utf8"
)

// maxEventNoteBytes is the longest note events.k8s.io/v1 accepts; the
// apiserver refuses a longer Event whole, and the diagnosis with it.
const maxEventNoteBytes = 1024

// truncationMarker ends a cut text.
const truncationMarker = "…"

// eventNote is the note of an event: within maxEventNoteBytes, cut with a
// marker if needed. Every event of the controller goes through it (eventf).
func eventNote(note string) string { return truncateUTF8(note, maxEventNoteBytes) }

// truncateUTF8 cuts s to at most max bytes, between runes, ending the cut
// text with truncationMarker. Bytes that are not UTF-8 become U+FFFD first
// (JSON encoding would replace them anyway, three bytes each), so the
// length is the one the apiserver sees.
func truncateUTF8(s string, max int) string {
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	if len(s) <= max {
		return s
	}
	if max < len(truncationMarker) {
		return ""
	}
	cut := max - len(truncationMarker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncationMarker
}
