FROM centos:7
MAINTAINER ops@example.com
RUN yum -y install epel-release && yum -y install nginx sudo && yum clean all
RUN echo 'app ALL=(ALL) NOPASSWD:ALL' >> /etc/sudoers && sudo -u app true
EXPOSE 80
CMD ["nginx"]
CMD ["nginx", "-g", "daemon off;"]
