// Reads a ZIP with java.util.zip.ZipFile: lists entries, reads all data, checks CRCs,
// prints {"count","bytes","digest"} as JSON. Run: java ReadZip.java FILE.zip
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Enumeration;
import java.util.HexFormat;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

public class ReadZip {
  public static void main(String[] args) throws Exception {
    MessageDigest digest = MessageDigest.getInstance("SHA-256");
    long count = 0;
    long total = 0;
    byte[] buf = new byte[1 << 20];
    try (ZipFile zf = new ZipFile(args[0], StandardCharsets.UTF_8)) {
      Enumeration<? extends ZipEntry> entries = zf.entries();
      while (entries.hasMoreElements()) {
        ZipEntry e = entries.nextElement();
        CRC32 crc = new CRC32();
        long size = 0;
        try (InputStream in = zf.getInputStream(e)) {
          int n;
          while ((n = in.read(buf)) > 0) {
            crc.update(buf, 0, n);
            size += n;
          }
        }
        if (crc.getValue() != e.getCrc() || size != e.getSize()) {
          throw new IllegalStateException("mismatch in " + e.getName());
        }
        String line = e.getName() + "\n" + String.format("%08x", crc.getValue()) + "\n" + size + "\n";
        digest.update(line.getBytes(StandardCharsets.UTF_8));
        count++;
        total += size;
      }
    }
    System.out.println("{\"reader\":\"java-util-zip\",\"count\":" + count + ",\"bytes\":" + total
        + ",\"digest\":\"" + HexFormat.of().formatHex(digest.digest()) + "\"}");
  }
}
