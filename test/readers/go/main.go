// Reads a ZIP with Go's archive/zip: lists entries, reads all data (the reader checks
// CRCs at EOF), prints {"count","bytes","digest"} as JSON. Run: go run main.go FILE.zip
package main

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

func main() {
	r, err := zip.OpenReader(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	defer r.Close()
	digest := sha256.New()
	var total uint64
	buf := make([]byte, 1<<20)
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			fmt.Fprintln(os.Stderr, "open entry:", f.Name, err)
			os.Exit(1)
		}
		h := crc32.NewIEEE()
		n, err := io.CopyBuffer(h, rc, buf)
		rc.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "read entry:", f.Name, err)
			os.Exit(1)
		}
		if h.Sum32() != f.CRC32 || uint64(n) != f.UncompressedSize64 {
			fmt.Fprintf(os.Stderr, "mismatch in %q\n", f.Name)
			os.Exit(1)
		}
		fmt.Fprintf(digest, "%s\n%08x\n%d\n", f.Name, h.Sum32(), n)
		total += uint64(n)
	}
	out, _ := json.Marshal(map[string]any{"reader": "go-archive-zip", "count": len(r.File), "bytes": total, "digest": hex.EncodeToString(digest.Sum(nil))})
	fmt.Println(string(out))
}
