import java.util.Arrays;

/**
 * AllocLoop, LockContention and Sleeper in one JVM, for one JFR recording holding every event kind podflame reads
 * (allocation, lock, wall-clock samples). Java 8 source, like Shop8.
 *
 * Usage: java -XX:StartFlightRecording=settings=profile,filename=/tmp/x.jfr -cp /app JfrMix [SECONDS] [--waiters]:
 * prints "JfrMix: started"; exits (status 0, which writes the recording) after SECONDS (default: runs until killed).
 * --waiters adds Sleeper's threads that sleep, park and wait (Sleeper.startWaiters), left out by default so that
 * the recording of test/fixtures/jfr/record.sh stays the one its lock tests describe.
 */
public final class JfrMix {
  public static void main(String[] args) throws Exception {
    AllocLoop.start();
    LockContention.start();
    Sleeper.start();
    if (Arrays.asList(args).contains("--waiters")) Sleeper.startWaiters();
    System.out.println("JfrMix: started (java.version " + System.getProperty("java.version") + ")");
    runFor(args);
  }

  static void startDaemon(String name, Runnable body) {
    Thread thread = new Thread(body, name);
    thread.setDaemon(true);
    thread.start();
  }

  /** Exits after the seconds of the first argument not an option (`--...`), if any; otherwise waits until killed. */
  static void runFor(String[] args) throws InterruptedException {
    long seconds = Long.MAX_VALUE / 1_000_000_000L;
    for (String arg : args) {
      if (!arg.startsWith("--")) {
        seconds = Long.parseLong(arg);
        break;
      }
    }
    Thread.sleep(seconds * 1000L);
    System.out.println("exiting after " + seconds + " s");
    System.exit(0);
  }
}
