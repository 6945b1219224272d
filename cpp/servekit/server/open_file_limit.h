// The process's open-file limit, which bounds how many connections a server
// can hold: each connection is a descriptor, and so is every model file being
// loaded, every log and every listening port.
#pragma once

namespace servekit {

// Raises the soft RLIMIT_NOFILE to the hard limit (as nginx and Go do at
// start: the soft default of 1,024 is a relic of select()); returns the soft
// limit now in force. Thread-safe and idempotent.
int RaiseOpenFileLimit();

// How many connections each of `ports` listening ports may hold by default:
// the descriptors left after a reserve for model files and the rest, shared
// between the ports, and at most 10,000 (each connection also holds buffers).
int DefaultMaxConnections(int open_file_limit, int ports);

}  // namespace servekit
