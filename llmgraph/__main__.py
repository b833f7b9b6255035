from llmgraph.cli.app import main

main()
