"""The README's first command: PyTorch's doc examples and one compile-once example."""

import pytorch_doc_examples
import compile_once

if __name__ == "__main__":
    pytorch_doc_examples.main()
    print()
    compile_once.main()
