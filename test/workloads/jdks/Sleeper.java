import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;

/**
 * Wall-clock workload for JFR's thread samples (`wall` graphs): two threads wait in Sleeper.awaitConnection, blocked
 * in a native accept on a loopback socket nobody connects to (jdk.NativeMethodSample samples threads in native code;
 * Thread.sleep is not native code to it), and one spins in Sleeper.spin (jdk.ExecutionSample). Java 8 source, like
 * Shop8.
 *
 * Usage: java -cp /app Sleeper [SECONDS]: prints "Sleeper: started"; exits after SECONDS (default: runs until
 * killed). JfrMix runs it beside the other JFR workloads.
 */
public final class Sleeper {
  private static volatile long sink;

  public static void main(String[] args) throws Exception {
    start();
    System.out.println("Sleeper: started");
    JfrMix.runFor(args);
  }

  static void start() throws IOException {
    for (int i = 0; i < 2; i++) {
      // Port 0 on loopback: works with network none; backlog 1, never connected to.
      final ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
      JfrMix.startDaemon("sleeper-" + i, () -> {
        while (true) awaitConnection(socket);
      });
    }
    JfrMix.startDaemon("sleeper-spin", () -> {
      while (true) spin();
    });
  }

  static void awaitConnection(ServerSocket socket) {
    try {
      socket.accept().close();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static void spin() {
    long x = sink;
    for (int i = 0; i < 100_000; i++) x = x * 6364136223846793005L + 1442695040888963407L;
    sink = x;
  }
}
