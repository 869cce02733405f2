/**
 * Lock workload for JFR's lock events (`lock` graphs): four threads take turns on one monitor in
 * LockContention.holdLock, holding it 25 ms each time, so the others wait in jdk.JavaMonitorEnter events (above the
 * profile settings' 10 ms threshold) with holdLock on top; and one thread parks 25 ms at a time in
 * LockContention.parkBriefly (jdk.ThreadPark). Java 8 source, like Shop8.
 *
 * Usage: java -cp /app LockContention [SECONDS]: prints "LockContention: started"; exits after SECONDS (default: runs
 * until killed). JfrMix runs it beside the other JFR workloads.
 */
import java.util.concurrent.locks.LockSupport;

public final class LockContention {
  private static final Object MONITOR = new Object();
  private static volatile long sink;

  public static void main(String[] args) throws Exception {
    start();
    System.out.println("LockContention: started");
    JfrMix.runFor(args);
  }

  static void start() {
    for (int i = 0; i < 4; i++) {
      JfrMix.startDaemon("lock-contender-" + i, () -> {
        while (true) holdLock();
      });
    }
    JfrMix.startDaemon("lock-parker", () -> {
      while (true) parkBriefly();
    });
  }

  static void holdLock() {
    synchronized (MONITOR) {
      // Thread.sleep holds the monitor (unlike wait), so the other contenders block on it.
      try {
        Thread.sleep(25);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      sink++;
    }
  }

  static void parkBriefly() {
    LockSupport.parkNanos(25_000_000L);
  }
}
