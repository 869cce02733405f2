import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.concurrent.locks.LockSupport;

/**
 * Wall-clock workload for `wall` graphs: threads that wait in every way Flight Recorder tells apart, and one that
 * runs.
 *
 * start():
 * - Two threads in Sleeper.awaitConnection, blocked in a native accept on a loopback socket nobody connects to
 *   (jdk.NativeMethodSample samples threads in native code).
 * - One thread spinning in Sleeper.spin (jdk.ExecutionSample).
 *
 * startWaiters():
 * - Two threads in Sleeper.nap (Thread.sleep: jdk.ThreadSleep), one in Sleeper.parkBriefly (LockSupport.parkNanos:
 *   jdk.ThreadPark) and one in Sleeper.waitBriefly (Object.wait on a monitor of its own: jdk.JavaMonitorWait), each
 *   waiting NAP_MS at a time, all the time: none of them is ever sampled by jdk.ExecutionSample or
 *   jdk.NativeMethodSample, and they use next to no CPU. NAP_MS is long enough that they wake up rarely (a perf
 *   sample landing in one of their few microseconds of CPU is unlikely) and short enough that the wait still in
 *   progress when a recording starts or stops, which Flight Recorder never writes, is a small share of a capture of
 *   seconds.
 *
 * Java 8 source, like Shop8. Usage: java -cp /app Sleeper [SECONDS]: starts both, prints "Sleeper: started"; exits
 * after SECONDS (default: runs until killed). JfrMix runs start() beside the other JFR workloads, and startWaiters()
 * with --waiters.
 */
public final class Sleeper {
  static final long NAP_MS = 100;
  private static volatile long sink;

  public static void main(String[] args) throws Exception {
    start();
    startWaiters();
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

  static void startWaiters() {
    for (int i = 0; i < 2; i++) {
      JfrMix.startDaemon("sleeper-nap-" + i, () -> {
        while (true) nap();
      });
    }
    JfrMix.startDaemon("sleeper-parker", () -> {
      while (true) parkBriefly();
    });
    final Object monitor = new Object();
    JfrMix.startDaemon("sleeper-waiter", () -> {
      while (true) waitBriefly(monitor);
    });
  }

  static void awaitConnection(ServerSocket socket) {
    try {
      socket.accept().close();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static void nap() {
    try {
      Thread.sleep(NAP_MS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static void parkBriefly() {
    LockSupport.parkNanos(NAP_MS * 1_000_000L);
  }

  /** Nobody notifies `monitor`: each wait ends at its timeout, never blocked entering it (the thread is alone). */
  static void waitBriefly(Object monitor) {
    synchronized (monitor) {
      try {
        monitor.wait(NAP_MS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  static void spin() {
    long x = sink;
    for (int i = 0; i < 100_000; i++) x = x * 6364136223846793005L + 1442695040888963407L;
    sink = x;
  }
}
