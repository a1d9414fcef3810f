// sha hashes a buffer with SHA-512 as often as its argument says: on amd64
// with AVX2 the block function is crypto/internal/fips140/sha512.blockAVX2,
// assembly full of VEX instructions.
package main

import (
	"crypto/sha512"
	"fmt"
	"os"
	"strconv"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	buf := make([]byte, 4096)
	var sum [64]byte
	for i := 0; i < n; i++ {
		buf[0] = byte(i)
		sum = sha512.Sum512(buf)
	}
	fmt.Printf("%x\n", sum[:4])
}
