from llmgraph.cli import main

main()
