echo "hello from the docker-image example"
echo "version: 1"
