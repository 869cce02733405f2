/**
 * AllocLoop, LockContention and Sleeper in one JVM, for one JFR recording holding every event kind podflame reads
 * (allocation, lock, wall-clock samples). Java 8 source, like Shop8.
 *
 * Usage: java -XX:StartFlightRecording=settings=profile,filename=/tmp/x.jfr -cp /app JfrMix [SECONDS]: prints
 * "JfrMix: started"; exits (status 0, which writes the recording) after SECONDS (default: runs until killed).
 */
public final class JfrMix {
  public static void main(String[] args) throws Exception {
    AllocLoop.start();
    LockContention.start();
    Sleeper.start();
    System.out.println("JfrMix: started (java.version " + System.getProperty("java.version") + ")");
    runFor(args);
  }

  static void startDaemon(String name, Runnable body) {
    Thread thread = new Thread(body, name);
    thread.setDaemon(true);
    thread.start();
  }

  /** Exits after the seconds in args[0], if given; otherwise waits until killed. */
  static void runFor(String[] args) throws InterruptedException {
    long seconds = args.length > 0 ? Long.parseLong(args[0]) : Long.MAX_VALUE / 1_000_000_000L;
    Thread.sleep(seconds * 1000L);
    System.out.println("exiting after " + seconds + " s");
    System.exit(0);
  }
}
