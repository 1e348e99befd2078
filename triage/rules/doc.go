// Package rules owns the triage rule file: its JSON format, the shipped defaults (default.json,
// embedded), validation that reports every problem at once, and the compiled phrase matcher that
// finds rule phrases in a message with word boundaries, misspelling tolerance, negation and
// historical/hypothetical context. Deciding a priority and category from the hits is package triage's
// job; this package only says what matched, where, and in which context. See docs/triage.md.
package rules
