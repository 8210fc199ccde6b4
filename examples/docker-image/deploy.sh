# The deploy step: the image is built and pushed; show it and run it once.
set -eu
echo "image: $IMAGE_URI_APP"
echo "tag:   $IMAGE_TAG_APP"
docker run --rm "$IMAGE_URI_APP"
