// Package bench is the load generator and delivery checker of tailcast.
//
// Run connects many WebSocket clients to one channel of a server, appends
// numbered and timestamped lines to the file that the server follows, and
// checks per client that every line arrives exactly once and in order. It
// knows the server only through the wire contract: GET /ws/NAME with the
// format query parameter, JSON frames {"channel","id","lines"} or
// {"channel","id","event"}, text frames of lines joined by '\n', and the
// close codes.
//
// A run goes through these phases:
//
//  1. Connect: clients dial with bounded concurrency, from loopback source
//     addresses 127.0.0.1, 127.0.0.2, ... when the server is on IPv4
//     loopback, so that ephemeral ports do not run out. More clients than
//     Options.ConnsPerProc are spread over child processes, which are the
//     bench binary executed again (see RunChild) and report over a pipe.
//  2. Warm-up: probe lines (sequence 0) are appended until every client
//     has received one, so that no measured line reaches a client before
//     the server has subscribed it.
//  3. Load: lines 1 to N at Options.Rate, each stamped with its append time
//     (see appendStamp for the format); or, with Options.Idle, nothing.
//  4. Drain: the clients get up to Options.Drain to receive line N.
//  5. Close and report: lost, repeated and reordered lines, dial and
//     handshake times, latency percentiles from append to receipt,
//     deliveries per second, and the memory and CPU time of the server's
//     process tree when Options.ServerPID is set.
package bench
