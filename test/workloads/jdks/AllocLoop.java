/**
 * Allocation workload for JFR's allocation events (`alloc` graphs): one thread allocates byte arrays in
 * AllocLoop.allocateBuffers and keeps a few alive, so the allocation samples (jdk.ObjectAllocationSample on JDK 16+,
 * the TLAB events before) name that method on top. Java 8 source, like Shop8.
 *
 * Usage: java -cp /app AllocLoop [SECONDS]: prints "AllocLoop: started"; exits after SECONDS (default: runs until
 * killed). JfrMix runs it beside the other JFR workloads.
 */
public final class AllocLoop {
  // Results go here so the JIT cannot drop the allocations as dead code.
  private static volatile Object sink;

  public static void main(String[] args) throws Exception {
    start();
    System.out.println("AllocLoop: started");
    JfrMix.runFor(args);
  }

  static void start() {
    JfrMix.startDaemon("alloc-loop", () -> {
      byte[][] kept = new byte[64][];
      for (long i = 0; ; i++) allocateBuffers(kept, i);
    });
  }

  // Mixed sizes: small arrays fill TLABs (jdk.ObjectAllocationInNewTLAB), 64 KiB ones go outside them
  // (jdk.ObjectAllocationOutsideTLAB); every 64th stays alive a while, so they are not all optimised away.
  static void allocateBuffers(byte[][] kept, long i) {
    byte[] small = new byte[256 + (int) (i % 512)];
    byte[] large = new byte[64 * 1024];
    kept[(int) (i % kept.length)] = (i & 63) == 0 ? large : small;
    sink = small;
  }
}
