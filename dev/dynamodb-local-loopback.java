// Starts DynamoDB Local as its own main class would, but listening on 127.0.0.1 only: the jar has
// no option for the address, and its Jetty server listens on every interface, where anyone on the
// network could read and write the journal. Run as a source file (`java … dynamodb-local-loopback.java
// <DynamoDB Local's options>`), with DynamoDBLocal.jar on the class path; needs Java 17's compiler
// module, which Debian's openjdk-17-jre-headless and every JDK include.
// Telemetry is left unconfigured (and -disableTelemetry is passed), so this DynamoDB Local sends none.
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class DynamoDbLocalOnLoopback {
  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    // The Jetty server is private and made with `new Server(port)`, which binds every address.
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    for (Connector connector : ((Server) field.get(proxy)).getConnectors()) {
      ((ServerConnector) connector).setHost("127.0.0.1");
    }
    proxy.start();
  }
}
