from raceproof.cli import main

main()
