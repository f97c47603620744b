// Package tail follows one log file by path and hands its new lines to a
// caller in batches, each with the Position where reading resumes.
package tail
