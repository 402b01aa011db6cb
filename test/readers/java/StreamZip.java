// Reads a ZIP from stdin with java.util.zip.ZipInputStream, the streaming reader JVM tools use:
// it knows only the local headers, so it reads every entry's data, checks its CRC-32 against the
// header's (or the data descriptor's, for DEFLATE), prints {"count","bytes","digest"} as JSON.
// Run: java StreamZip.java < FILE.zip
import java.io.BufferedInputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

public class StreamZip {
  public static void main(String[] args) throws Exception {
    MessageDigest digest = MessageDigest.getInstance("SHA-256");
    long count = 0;
    long total = 0;
    byte[] buf = new byte[1 << 20];
    try (ZipInputStream in =
        new ZipInputStream(new BufferedInputStream(System.in, 1 << 20), StandardCharsets.UTF_8)) {
      ZipEntry e;
      while ((e = in.getNextEntry()) != null) {
        CRC32 crc = new CRC32();
        long size = 0;
        int n;
        while ((n = in.read(buf)) > 0) {
          crc.update(buf, 0, n);
          size += n;
        }
        // ZipInputStream itself throws on a CRC mismatch; the sizes are checked here.
        if (crc.getValue() != e.getCrc() || size != e.getSize()) {
          throw new IllegalStateException("mismatch in " + e.getName());
        }
        String line = e.getName() + "\n" + String.format("%08x", crc.getValue()) + "\n" + size + "\n";
        digest.update(line.getBytes(StandardCharsets.UTF_8));
        count++;
        total += size;
      }
    }
    System.out.println("{\"reader\":\"java-zipinputstream\",\"count\":" + count + ",\"bytes\":" + total
        + ",\"digest\":\"" + HexFormat.of().formatHex(digest.digest()) + "\"}");
  }
}
