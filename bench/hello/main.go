// Command hello is the yardstick for `flareform version`: the smallest Go program that prints
// a line, built the way the Makefile builds flareform (CGO_ENABLED=0), so the bench's ratio is
// flareform's own start-up cost (binary size, package init) over the Go runtime's.
package main

import "os"

func main() { os.Stdout.WriteString("hello\n") }
