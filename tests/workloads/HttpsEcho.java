// An HTTPS server on Java's own TLS (JSSE, no OpenSSL): what the agent cannot read. Run as a
// single-file program: java HttpsEcho.java KEYSTORE.p12 PASSWORD PORT; prints "READY <port>".
import com.sun.net.httpserver.*;
import javax.net.ssl.*;
import java.io.*;
import java.net.InetSocketAddress;
import java.security.KeyStore;

public class HttpsEcho {
  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[2]);
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (InputStream in = new FileInputStream(args[0])) { ks.load(in, args[1].toCharArray()); }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance("SunX509");
    kmf.init(ks, args[1].toCharArray());
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(kmf.getKeyManagers(), null, null);
    HttpsServer server = HttpsServer.create(new InetSocketAddress("127.0.0.1", port), 0);
    server.setHttpsConfigurator(new HttpsConfigurator(ctx));
    server.createContext("/", ex -> {
      byte[] body = ("java " + ex.getRequestURI().getPath()).getBytes();
      ex.sendResponseHeaders(200, body.length);
      try (OutputStream os = ex.getResponseBody()) { os.write(body); }
    });
    server.start();
    System.out.println("READY " + port);
  }
}
