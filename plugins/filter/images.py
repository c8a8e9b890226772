# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.stack contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

"""Filters for container image references: image_parts, mirror_image, mirror_parts (docs in the .yml files beside this one)."""

from ansible.errors import AnsibleFilterError


def image_parts(image):
    if not isinstance(image, str) or not image or any(c.isspace() for c in image):
        raise AnsibleFilterError('not an image reference: %r' % (image,))
    rest, digest = (image.split('@', 1) + [''])[:2] if '@' in image else (image, '')
    name, tag = rest, ''
    last = rest.rsplit('/', 1)[-1]
    if ':' in last:
        name, tag = rest.rsplit(':', 1)
    first, sep, remainder = name.partition('/')
    if sep and ('.' in first or ':' in first or first == 'localhost'):
        registry, repository = first, remainder
    else:
        registry, repository = 'docker.io', name
        if '/' not in repository:
            repository = 'library/' + repository
    return {'registry': registry, 'repository': repository, 'tag': tag, 'digest': digest,
            'image': _join(registry, repository, tag, digest)}


def _join(registry, repository, tag, digest):
    image = '%s/%s' % (registry, repository)
    if tag:
        image += ':' + tag
    if digest:
        image += '@' + digest
    return image


def mirror_image(image, registry=''):
    """The reference pulled through `registry` (unchanged when `registry` is empty)."""
    parts = image_parts(image)
    if not registry:
        return image
    registry = registry.rstrip('/')
    return _join(registry, '%s/%s' % (parts['registry'], parts['repository']), parts['tag'], parts['digest'])


def mirror_parts(image, registry=''):
    """image_parts() of the mirrored reference: for charts that take registry and repository apart."""
    mirrored = mirror_image(image, registry)
    if not registry:
        return image_parts(mirrored)
    host, sep, path = registry.rstrip('/').partition('/')
    parts = image_parts(mirrored)
    parts['registry'] = host
    parts['repository'] = (path + '/' if sep else '') + '%s/%s' % (image_parts(image)['registry'], image_parts(image)['repository'])
    return parts


class FilterModule(object):
    def filters(self):
        return {'image_parts': image_parts, 'mirror_image': mirror_image, 'mirror_parts': mirror_parts}
