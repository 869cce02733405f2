/**
 * Folded stacks → a JSON call tree, `{name, value, children}` as d3-flame-graph and most flame graph widgets read it:
 * the root is `all` with the total; each node's value is the samples of every stack through it; children are sorted
 * by name (byte order) so the same stacks always give the same JSON.
 */
import { compareBytes, type FoldedStacks } from '../folded.js';
import { framesOf } from './sampling.js';

export interface CallTreeNode {
  name: string;
  value: number;
  children: CallTreeNode[];
}

export const CALL_TREE_ROOT = 'all';

interface BuildNode {
  name: string;
  value: number;
  children: Map<string, BuildNode>;
}

export function toCallTree(stacks: FoldedStacks): CallTreeNode {
  const root: BuildNode = { name: CALL_TREE_ROOT, value: 0, children: new Map() };
  for (const [stack, count] of stacks) {
    if (!(count > 0)) continue;
    root.value += count;
    let node = root;
    for (const name of framesOf(stack)) {
      let child = node.children.get(name);
      if (!child) {
        child = { name, value: 0, children: new Map() };
        node.children.set(name, child);
      }
      child.value += count;
      node = child;
    }
  }
  // Iterative, so that a pathologically deep stack cannot overflow the call stack here.
  const out: CallTreeNode = { name: root.name, value: root.value, children: [] };
  const work: [BuildNode, CallTreeNode][] = [[root, out]];
  for (let item = work.pop(); item; item = work.pop()) {
    const [from, to] = item;
    for (const child of [...from.children.values()].sort((a, b) => compareBytes(a.name, b.name))) {
      const converted: CallTreeNode = { name: child.name, value: child.value, children: [] };
      to.children.push(converted);
      work.push([child, converted]);
    }
  }
  return out;
}
