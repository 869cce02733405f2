/**
 * podflame's test workload for a JVM whose threads come and go (as compiler threads and idle pool workers do): one
 * thread burns CPU in churnSteady forever, and every half second a new thread burns CPU in churnShortLived for a
 * second and ends (so two are alive at any time). perf record -p misbehaves after a recorded thread exits; the capture must cope.
 */
public final class Churn {
  private static volatile long sink;

  public static void main(String[] args) throws Exception {
    Thread steady = new Thread(Churn::churnSteady, "churn-steady");
    steady.setDaemon(true);
    steady.start();
    System.out.println("Churn: started");
    for (int i = 0; ; i++) {
      Thread shortLived = new Thread(() -> churnShortLived(1000), "churn-short-" + i);
      shortLived.start();
      Thread.sleep(500);
    }
  }

  static void churnSteady() {
    while (true) sink += spin(1_000_000);
  }

  static void churnShortLived(long millis) {
    long end = System.nanoTime() + millis * 1_000_000;
    while (System.nanoTime() < end) sink += spin(100_000);
  }

  private static long spin(int n) {
    long x = 0;
    for (int i = 0; i < n; i++) x += i ^ (x >>> 3);
    return x;
  }
}
